//! FP-Growth (Han, Pei & Yin 2000): frequent itemsets from a prefix tree of the transactions,
//! mined by conditional trees, the top level in parallel.
//!
//! Items are dense ids `0..n_items`; transactions list each item at most once. Counts are exact.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// One frequent itemset: its items (ascending ids) and the number of transactions containing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Itemset {
    /// Item ids, ascending.
    pub items: Vec<u32>,
    /// Support count.
    pub count: u64,
}

/// A prefix tree over item ranks (0 = most frequent), with per-rank node lists.
struct Tree {
    rank_item: Vec<u32>,
    rank_count: Vec<u64>,
    node_rank: Vec<u32>,
    node_count: Vec<u64>,
    node_parent: Vec<u32>,
    heads: Vec<Vec<u32>>,
}

const ROOT: u32 = 0;

impl Tree {
    /// Builds the tree of `paths` (each a list of global item ids with a count), keeping the
    /// items with a total count ≥ `min_count`, ordered by descending count.
    fn build(paths: &[(Vec<u32>, u64)], n_items: usize, min_count: u64) -> Option<Tree> {
        let mut counts: FxHashMap<u32, u64> = FxHashMap::default();
        if n_items > 0 && paths.len() > 64 {
            let mut dense = vec![0u64; n_items];
            for (p, c) in paths {
                for &i in p {
                    dense[i as usize] += c;
                }
            }
            for (i, c) in dense.into_iter().enumerate() {
                if c >= min_count {
                    counts.insert(i as u32, c);
                }
            }
        } else {
            for (p, c) in paths {
                for &i in p {
                    *counts.entry(i).or_default() += c;
                }
            }
            counts.retain(|_, c| *c >= min_count);
        }
        if counts.is_empty() {
            return None;
        }
        let mut ranked: Vec<(u32, u64)> = counts.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut rank_of: FxHashMap<u32, u32> = FxHashMap::default();
        for (r, (i, _)) in ranked.iter().enumerate() {
            rank_of.insert(*i, r as u32);
        }
        let mut t = Tree {
            rank_item: ranked.iter().map(|x| x.0).collect(),
            rank_count: ranked.iter().map(|x| x.1).collect(),
            node_rank: vec![u32::MAX],
            node_count: vec![0],
            node_parent: vec![ROOT],
            heads: vec![Vec::new(); ranked.len()],
        };
        let mut children: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        let mut ranks: Vec<u32> = Vec::new();
        for (p, c) in paths {
            ranks.clear();
            ranks.extend(p.iter().filter_map(|i| rank_of.get(i).copied()));
            ranks.sort_unstable();
            let mut node = ROOT;
            for &r in &ranks {
                node = match children.get(&(node, r)) {
                    Some(&n) => n,
                    None => {
                        let n = t.node_rank.len() as u32;
                        t.node_rank.push(r);
                        t.node_count.push(0);
                        t.node_parent.push(node);
                        t.heads[r as usize].push(n);
                        children.insert((node, r), n);
                        n
                    }
                };
                t.node_count[node as usize] += c;
            }
        }
        Some(t)
    }

    /// The tree is one chain from the root.
    fn single_path(&self) -> bool {
        self.heads.iter().all(|h| h.len() == 1)
            && (1..self.node_rank.len()).all(|n| {
                self.node_rank[n] as usize == n - 1 && self.node_parent[n] as usize == n - 1
            })
    }

    /// The conditional pattern base of rank `r`: the path above each of its nodes, as global
    /// item ids, with the node's count.
    fn conditional_base(&self, r: usize) -> Vec<(Vec<u32>, u64)> {
        self.heads[r]
            .iter()
            .filter_map(|&n| {
                let mut path = Vec::new();
                let mut p = self.node_parent[n as usize];
                while p != ROOT {
                    path.push(self.rank_item[self.node_rank[p as usize] as usize]);
                    p = self.node_parent[p as usize];
                }
                (!path.is_empty()).then(|| (path, self.node_count[n as usize]))
            })
            .collect()
    }
}

/// Options of a mining run.
#[derive(Debug, Clone, Copy)]
pub struct MineOptions {
    /// Minimum support count (≥ 1).
    pub min_count: u64,
    /// Largest itemset size (0 = no limit).
    pub max_len: usize,
}

/// All itemsets with support count ≥ `min_count` (up to `max_len` items), in no particular order.
pub fn frequent_itemsets(
    transactions: &[Vec<u32>],
    n_items: usize,
    opts: MineOptions,
) -> Vec<Itemset> {
    let paths: Vec<(Vec<u32>, u64)> = transactions.iter().map(|t| (t.clone(), 1)).collect();
    let Some(tree) = Tree::build(&paths, n_items, opts.min_count.max(1)) else {
        return Vec::new();
    };
    drop(paths);
    let max_len = if opts.max_len == 0 {
        usize::MAX
    } else {
        opts.max_len
    };
    // The top level in parallel, largest conditional bases (least frequent items) first is not
    // needed: rayon balances by stealing.
    let mut out: Vec<Itemset> = (0..tree.rank_item.len())
        .into_par_iter()
        .flat_map_iter(|r| {
            let mut local = Vec::new();
            let mut prefix = Vec::new();
            mine_rank(
                &tree,
                r,
                &mut prefix,
                opts.min_count.max(1),
                max_len,
                n_items,
                &mut local,
            );
            local
        })
        .collect();
    for s in &mut out {
        s.items.sort_unstable();
    }
    out
}

/// Emits the itemset prefix + item of rank `r` and everything that extends it within `tree`.
fn mine_rank(
    tree: &Tree,
    r: usize,
    prefix: &mut Vec<u32>,
    min_count: u64,
    max_len: usize,
    n_items: usize,
    out: &mut Vec<Itemset>,
) {
    prefix.push(tree.rank_item[r]);
    out.push(Itemset {
        items: prefix.clone(),
        count: tree.rank_count[r],
    });
    if prefix.len() < max_len {
        let base = tree.conditional_base(r);
        if let Some(cond) = Tree::build(&base, n_items, min_count) {
            mine_tree(&cond, prefix, min_count, max_len, n_items, out);
        }
    }
    prefix.pop();
}

fn mine_tree(
    tree: &Tree,
    prefix: &mut Vec<u32>,
    min_count: u64,
    max_len: usize,
    n_items: usize,
    out: &mut Vec<Itemset>,
) {
    if tree.single_path() {
        // Every combination of the path's nodes; its count is that of its deepest node.
        let nodes = tree.rank_item.len();
        let room = max_len - prefix.len();
        let mut chosen: Vec<usize> = Vec::new();
        fn combos(
            tree: &Tree,
            start: usize,
            nodes: usize,
            room: usize,
            chosen: &mut Vec<usize>,
            prefix: &[u32],
            out: &mut Vec<Itemset>,
        ) {
            for k in start..nodes {
                chosen.push(k);
                let mut items = prefix.to_vec();
                items.extend(chosen.iter().map(|&c| tree.rank_item[c]));
                out.push(Itemset {
                    items,
                    count: tree.node_count[k + 1],
                });
                if chosen.len() < room {
                    combos(tree, k + 1, nodes, room, chosen, prefix, out);
                }
                chosen.pop();
            }
        }
        combos(tree, 0, nodes, room, &mut chosen, prefix, out);
        return;
    }
    for r in (0..tree.rank_item.len()).rev() {
        mine_rank(tree, r, prefix, min_count, max_len, n_items, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Every itemset and its count by brute force.
    fn brute(tx: &[Vec<u32>], n: usize, min: u64) -> BTreeMap<Vec<u32>, u64> {
        let mut out = BTreeMap::new();
        for mask in 1u32..(1 << n) {
            let items: Vec<u32> = (0..n as u32).filter(|i| mask & (1 << i) != 0).collect();
            let c = tx
                .iter()
                .filter(|t| items.iter().all(|i| t.contains(i)))
                .count() as u64;
            if c >= min {
                out.insert(items, c);
            }
        }
        out
    }

    #[test]
    fn matches_brute_force() {
        // A classic example plus pseudo-random baskets over 9 items.
        let mut tx: Vec<Vec<u32>> = vec![
            vec![0, 1, 4],
            vec![1, 3],
            vec![1, 2],
            vec![0, 1, 3],
            vec![0, 2],
            vec![1, 2],
            vec![0, 2],
            vec![0, 1, 2, 4],
            vec![0, 1, 2],
        ];
        let mut s: u64 = 12345;
        for _ in 0..300 {
            let mut t = Vec::new();
            for i in 0..9u32 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (s >> 33) % 100 < (60 - 6 * i as u64) {
                    t.push(i);
                }
            }
            tx.push(t);
        }
        for min in [1, 2, 5, 20, 60] {
            let want = brute(&tx, 9, min);
            let got: BTreeMap<Vec<u32>, u64> = frequent_itemsets(
                &tx,
                9,
                MineOptions {
                    min_count: min,
                    max_len: 0,
                },
            )
            .into_iter()
            .map(|s| (s.items, s.count))
            .collect();
            assert_eq!(got, want, "min count {min}");
            // Length limit.
            let got3: BTreeMap<Vec<u32>, u64> = frequent_itemsets(
                &tx,
                9,
                MineOptions {
                    min_count: min,
                    max_len: 3,
                },
            )
            .into_iter()
            .map(|s| (s.items, s.count))
            .collect();
            let want3: BTreeMap<Vec<u32>, u64> =
                want.into_iter().filter(|(k, _)| k.len() <= 3).collect();
            assert_eq!(got3, want3, "min count {min}, max 3");
        }
    }
}

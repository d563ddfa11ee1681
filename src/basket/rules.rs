//! Association rules with one item in the consequent, from frequent itemsets: support,
//! confidence, lift, leverage, conviction; thresholds, a cap that keeps the best rules by lift in
//! bounded memory, and pruning of redundant rules.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::fpgrowth::Itemset;

/// One rule `antecedent → consequent`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Antecedent item ids, ascending (non-empty).
    pub antecedent: Vec<u32>,
    /// Consequent item id.
    pub consequent: u32,
    /// Transactions containing the antecedent.
    pub antecedent_count: u64,
    /// Transactions containing the consequent.
    pub consequent_count: u64,
    /// Transactions containing both.
    pub rule_count: u64,
    /// Transactions in total.
    pub transactions: u64,
}

impl Rule {
    /// rule_count / transactions.
    pub fn support(&self) -> f64 {
        self.rule_count as f64 / self.transactions as f64
    }
    /// rule_count / antecedent_count.
    pub fn confidence(&self) -> f64 {
        self.rule_count as f64 / self.antecedent_count as f64
    }
    /// confidence / support of the consequent.
    pub fn lift(&self) -> f64 {
        self.confidence() / (self.consequent_count as f64 / self.transactions as f64)
    }
    /// support − support(antecedent) × support(consequent).
    pub fn leverage(&self) -> f64 {
        let n = self.transactions as f64;
        self.support() - (self.antecedent_count as f64 / n) * (self.consequent_count as f64 / n)
    }
    /// (1 − support(consequent)) / (1 − confidence); infinite for confidence 1.
    pub fn conviction(&self) -> f64 {
        let c = self.confidence();
        if c >= 1.0 {
            f64::INFINITY
        } else {
            (1.0 - self.consequent_count as f64 / self.transactions as f64) / (1.0 - c)
        }
    }
}

/// Rule thresholds and limits.
#[derive(Debug, Clone, Copy)]
pub struct RuleOptions {
    /// Minimum confidence.
    pub min_confidence: f64,
    /// Minimum lift (0 = none).
    pub min_lift: f64,
    /// Largest antecedent (0 = no limit).
    pub max_antecedent: usize,
    /// Keep at most this many rules, the best by lift (0 = all).
    pub max_rules: usize,
    /// Drop rules whose confidence does not beat every more general rule with the same
    /// consequent.
    pub prune_redundant: bool,
}

impl RuleOptions {
    /// The defaults (`basket` and the nightly stage).
    pub const DEFAULT: Self = RuleOptions {
        min_confidence: 0.1,
        min_lift: 0.0,
        max_antecedent: 0,
        max_rules: 100_000,
        prune_redundant: true,
    };
}

/// Lookup of itemset counts by their (sorted) items.
pub struct Counts {
    map: FxHashMap<Vec<u32>, u64>,
    /// Transactions in total.
    pub transactions: u64,
}

impl Counts {
    /// Indexes `itemsets`.
    pub fn new(itemsets: &[Itemset], transactions: u64) -> Counts {
        Counts {
            map: itemsets
                .iter()
                .map(|s| (s.items.clone(), s.count))
                .collect(),
            transactions,
        }
    }
    /// Count of an itemset (sorted items); the empty set is every transaction.
    pub fn get(&self, items: &[u32]) -> Option<u64> {
        if items.is_empty() {
            return Some(self.transactions);
        }
        self.map.get(items).copied()
    }
}

/// Orders rules best-first: higher lift, then higher confidence, support, then items.
pub fn better(a: &Rule, b: &Rule) -> Ordering {
    b.lift()
        .total_cmp(&a.lift())
        .then(b.confidence().total_cmp(&a.confidence()))
        .then(b.rule_count.cmp(&a.rule_count))
        .then(a.antecedent.cmp(&b.antecedent))
        .then(a.consequent.cmp(&b.consequent))
}

struct ByLift(Rule);
impl PartialEq for ByLift {
    fn eq(&self, o: &Self) -> bool {
        better(&self.0, &o.0) == Ordering::Equal
    }
}
impl Eq for ByLift {}
impl PartialOrd for ByLift {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByLift {
    // The heap's top is the worst rule kept.
    fn cmp(&self, o: &Self) -> Ordering {
        better(&self.0, &o.0)
    }
}

/// Whether a rule's confidence beats every rule X' → y with X' a proper subset of X (the empty
/// set included, whose confidence is the consequent's support). Checks the immediate subsets and
/// what they inherit, memoised: linear in the number of rules times the antecedent size.
struct Generality<'a> {
    counts: &'a Counts,
    best: FxHashMap<(Vec<u32>, u32), f64>,
}

impl Generality<'_> {
    /// The best confidence of any rule `X' → y` with X' ⊆ `x`.
    fn best_at_or_below(&mut self, x: &[u32], y: u32) -> f64 {
        if let Some(b) = self.best.get(&(x.to_vec(), y)) {
            return *b;
        }
        let own = self.confidence(x, y);
        let below = self.best_below(x, y);
        let b = own.max(below);
        self.best.insert((x.to_vec(), y), b);
        b
    }
    /// The best confidence of any rule `X' → y` with X' ⊂ `x` (proper).
    fn best_below(&mut self, x: &[u32], y: u32) -> f64 {
        if x.is_empty() {
            return f64::NEG_INFINITY;
        }
        let mut b = f64::NEG_INFINITY;
        let mut sub = Vec::with_capacity(x.len());
        for skip in 0..x.len() {
            sub.clear();
            sub.extend(
                x.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, v)| *v),
            );
            b = b.max(self.best_at_or_below(&sub.clone(), y));
        }
        b
    }
    fn confidence(&self, x: &[u32], y: u32) -> f64 {
        let mut xy: Vec<u32> = x.to_vec();
        let pos = xy.partition_point(|v| *v < y);
        xy.insert(pos, y);
        match (self.counts.get(&xy), self.counts.get(x)) {
            (Some(a), Some(b)) if b > 0 => a as f64 / b as f64,
            _ => f64::NEG_INFINITY,
        }
    }
}

/// What rule generation produced.
#[derive(Debug)]
pub struct RuleSet {
    /// The rules, best first.
    pub rules: Vec<Rule>,
    /// Rules that met the thresholds.
    pub candidates: usize,
    /// Of those, dropped as redundant.
    pub redundant: usize,
    /// Of the rest, dropped by the cap.
    pub capped: usize,
}

/// Rules from `itemsets` (every frequent itemset, so that every subset is present).
pub fn generate(itemsets: &[Itemset], transactions: u64, opts: RuleOptions) -> RuleSet {
    let counts = Counts::new(itemsets, transactions);
    let chunks: Vec<(Vec<Rule>, usize, usize)> = itemsets
        .par_chunks(4096)
        .map(|chunk| {
            let mut general = Generality {
                counts: &counts,
                best: FxHashMap::default(),
            };
            let mut heap: BinaryHeap<ByLift> = BinaryHeap::new();
            let mut kept = Vec::new();
            let (mut candidates, mut redundant) = (0, 0);
            let mut antecedent = Vec::new();
            for s in chunk {
                if s.items.len() < 2 {
                    continue;
                }
                if opts.max_antecedent > 0 && s.items.len() - 1 > opts.max_antecedent {
                    continue;
                }
                for (k, &y) in s.items.iter().enumerate() {
                    antecedent.clear();
                    antecedent.extend(
                        s.items
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != k)
                            .map(|(_, v)| *v),
                    );
                    let ac = counts
                        .get(&antecedent)
                        .expect("subsets of frequent itemsets are frequent");
                    let yc = counts.get(&[y]).expect("frequent item");
                    let rule = Rule {
                        antecedent: antecedent.clone(),
                        consequent: y,
                        antecedent_count: ac,
                        consequent_count: yc,
                        rule_count: s.count,
                        transactions,
                    };
                    if rule.confidence() < opts.min_confidence || rule.lift() < opts.min_lift {
                        continue;
                    }
                    candidates += 1;
                    if opts.prune_redundant
                        && general.best_below(&rule.antecedent, y) >= rule.confidence()
                    {
                        redundant += 1;
                        continue;
                    }
                    if opts.max_rules > 0 {
                        heap.push(ByLift(rule));
                        if heap.len() > opts.max_rules {
                            heap.pop();
                        }
                    } else {
                        kept.push(rule);
                    }
                }
            }
            kept.extend(heap.into_iter().map(|r| r.0));
            (kept, candidates, redundant)
        })
        .collect();
    let candidates = chunks.iter().map(|c| c.1).sum();
    let redundant = chunks.iter().map(|c| c.2).sum();
    let mut rules: Vec<Rule> = chunks.into_iter().flat_map(|c| c.0).collect();
    rules.par_sort_unstable_by(better);
    if opts.max_rules > 0 {
        rules.truncate(opts.max_rules);
    }
    RuleSet {
        capped: candidates - redundant - rules.len(),
        rules,
        candidates,
        redundant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::basket::fpgrowth::{MineOptions, frequent_itemsets};

    /// 10 baskets: a → b strongly; {a, c} → b no better than a → b; every rule, unpruned.
    fn fixture() -> (Vec<Itemset>, RuleOptions) {
        let tx: Vec<Vec<u32>> = vec![
            vec![0, 1],
            vec![0, 1],
            vec![0, 1, 2],
            vec![0, 1, 2],
            vec![0, 2],
            vec![1],
            vec![2],
            vec![2, 3],
            vec![3],
            vec![1, 3],
        ];
        let sets = frequent_itemsets(
            &tx,
            4,
            MineOptions {
                min_count: 1,
                max_len: 0,
            },
        );
        let opts = RuleOptions {
            min_confidence: 0.0,
            min_lift: 0.0,
            max_antecedent: 0,
            max_rules: 0,
            prune_redundant: false,
        };
        (sets, opts)
    }

    #[test]
    fn metrics() {
        let (sets, opts) = fixture();
        let all = generate(&sets, 10, opts);
        let ab = all
            .rules
            .iter()
            .find(|r| r.antecedent == [0] && r.consequent == 1)
            .unwrap();
        // supp(a) = .5, supp(b) = .6, supp(ab) = .4.
        assert_eq!(
            (ab.antecedent_count, ab.consequent_count, ab.rule_count),
            (5, 6, 4)
        );
        assert!((ab.support() - 0.4).abs() < 1e-12);
        assert!((ab.confidence() - 0.8).abs() < 1e-12);
        assert!((ab.lift() - 0.8 / 0.6).abs() < 1e-12);
        assert!((ab.leverage() - (0.4 - 0.5 * 0.6)).abs() < 1e-12);
        assert!((ab.conviction() - (0.4 / 0.2)).abs() < 1e-12);
    }

    #[test]
    fn redundancy_and_cap() {
        let (sets, opts) = fixture();
        let all = generate(&sets, 10, opts);
        // {a, c} → b has confidence 2/3 < 0.8: redundant given a → b.
        let pruned = generate(
            &sets,
            10,
            RuleOptions {
                prune_redundant: true,
                ..opts
            },
        );
        assert!(
            !pruned
                .rules
                .iter()
                .any(|r| r.antecedent == [0, 2] && r.consequent == 1)
        );
        assert!(
            pruned
                .rules
                .iter()
                .any(|r| r.antecedent == [0] && r.consequent == 1)
        );
        // Rules with lift ≤ 1 never beat the empty antecedent.
        assert!(pruned.rules.iter().all(|r| r.lift() > 1.0));
        assert_eq!(pruned.candidates, all.rules.len());
        assert_eq!(pruned.redundant + pruned.rules.len(), pruned.candidates);
        // The cap keeps the best by lift.
        let capped = generate(
            &sets,
            10,
            RuleOptions {
                max_rules: 3,
                ..opts
            },
        );
        assert_eq!(capped.rules.len(), 3);
        assert_eq!(capped.rules, all.rules[..3].to_vec());
        assert_eq!(capped.capped, all.rules.len() - 3);
    }
}

//! Model quality measures: ROC AUC, PR AUC (average precision), Brier score, lift, calibration,
//! silhouette and the adjusted Rand index. Written out here (rather than taken from a library) so
//! that each is tested against small hand-computed examples.

use std::collections::HashMap;

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting one half (the Mann-Whitney statistic). None without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|l| **l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    // Sum of the (average, 1-based) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            if labels[*k] {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Area under the precision-recall curve as average precision: the mean, over positives, of the
/// precision at the threshold that first includes them (tied scores form one threshold).
pub fn pr_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|l| **l).count();
    if pos == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut seen, mut ap) = (0usize, 0usize, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let new_tp = idx[i..=j].iter().filter(|k| labels[**k]).count();
        tp += new_tp;
        seen += j - i + 1;
        ap += new_tp as f64 * tp as f64 / seen as f64;
        i = j + 1;
    }
    Some(ap / pos as f64)
}

/// Mean squared difference between predicted probability and outcome.
pub fn brier(probs: &[f64], labels: &[bool]) -> f64 {
    if probs.is_empty() {
        return f64::NAN;
    }
    probs
        .iter()
        .zip(labels)
        .map(|(p, l)| (p - f64::from(u8::from(*l))).powi(2))
        .sum::<f64>()
        / probs.len() as f64
}

/// Positive rate among the top `share` of scores divided by the overall positive rate.
pub fn lift_at(scores: &[f64], labels: &[bool], share: f64) -> Option<f64> {
    let n = scores.len();
    let pos = labels.iter().filter(|l| **l).count();
    if n == 0 || pos == 0 {
        return None;
    }
    let k = ((n as f64 * share).ceil() as usize).clamp(1, n);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    let top = idx[..k].iter().filter(|i| labels[**i]).count();
    Some((top as f64 / k as f64) / (pos as f64 / n as f64))
}

/// One row of a calibration table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CalibrationBin {
    /// Lower edge of the predicted-probability bin.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Customers in the bin.
    pub count: usize,
    /// Mean predicted probability.
    pub predicted: f64,
    /// Observed positive rate.
    pub observed: f64,
}

/// Predicted against observed rates in `bins` equal-width probability bins (empty bins left out).
pub fn calibration(probs: &[f64], labels: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (p, l) in probs.iter().zip(labels) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += usize::from(*l);
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(b, s)| CalibrationBin {
            from: b as f64 / bins as f64,
            to: (b + 1) as f64 / bins as f64,
            count: s.0,
            predicted: s.1 / s.0 as f64,
            observed: s.2 as f64 / s.0 as f64,
        })
        .collect()
}

/// Mean silhouette of `labels` over the rows of `x` (row-major, `dims` columns), Euclidean
/// distance. A point alone in its cluster scores 0. None with fewer than two clusters.
pub fn silhouette(x: &[f64], dims: usize, labels: &[usize]) -> Option<f64> {
    let n = labels.len();
    let k = labels.iter().copied().max()? + 1;
    let sizes = labels.iter().fold(vec![0usize; k], |mut s, l| {
        s[*l] += 1;
        s
    });
    if sizes.iter().filter(|s| **s > 0).count() < 2 {
        return None;
    }
    let dist = |a: usize, b: usize| {
        let (ra, rb) = (&x[a * dims..(a + 1) * dims], &x[b * dims..(b + 1) * dims]);
        ra.iter()
            .zip(rb)
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt()
    };
    use rayon::prelude::*;
    let total: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let own = labels[i];
            if sizes[own] <= 1 {
                return 0.0;
            }
            let mut sum = vec![0.0; k];
            for j in 0..n {
                if j != i {
                    sum[labels[j]] += dist(i, j);
                }
            }
            let a = sum[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|c| *c != own && sizes[*c] > 0)
                .map(|c| sum[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            if m > 0.0 { (b - a) / m } else { 0.0 }
        })
        .sum();
    Some(total / n as f64)
}

/// Adjusted Rand index between two labelings of the same items (1 = identical partitions,
/// about 0 = chance agreement).
pub fn adjusted_rand_index<A, B>(a: &[A], b: &[B]) -> f64
where
    A: std::hash::Hash + Eq,
    B: std::hash::Hash + Eq,
{
    let n = a.len();
    let c2 = |x: usize| (x * x.saturating_sub(1)) as f64 / 2.0;
    let mut table: HashMap<(&A, &B), usize> = HashMap::new();
    let mut rows: HashMap<&A, usize> = HashMap::new();
    let mut cols: HashMap<&B, usize> = HashMap::new();
    for (x, y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let index: f64 = table.values().map(|v| c2(*v)).sum();
    let sum_a: f64 = rows.values().map(|v| c2(*v)).sum();
    let sum_b: f64 = cols.values().map(|v| c2(*v)).sum();
    let expected = sum_a * sum_b / c2(n);
    let max = (sum_a + sum_b) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_auc_by_hand() {
        // Positives 0.8, 0.4; negatives 0.6, 0.2: of the 4 pairs, 3 ordered right.
        let s = [0.8, 0.6, 0.4, 0.2];
        let l = [true, false, true, false];
        assert_eq!(roc_auc(&s, &l), Some(0.75));
        // A tie between a positive and a negative counts one half: pairs (0.5+,0.5-) = 0.5,
        // (0.5+,0.1-) = 1, (0.9+,0.5-) = 1, (0.9+,0.1-) = 1 → 3.5 / 4.
        let s = [0.5, 0.5, 0.9, 0.1];
        let l = [true, false, true, false];
        assert_eq!(roc_auc(&s, &l), Some(0.875));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.9, 0.1], &[false, true]), Some(0.0));
    }

    #[test]
    fn pr_auc_by_hand() {
        // Ranked: + (P=1/1), - , + (P=2/3), - → AP = (1 + 2/3) / 2.
        let s = [0.9, 0.8, 0.7, 0.6];
        let l = [true, false, true, false];
        let ap = pr_auc(&s, &l).unwrap();
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // A tie of a positive and a negative at the top: precision 1/2 there.
        let ap = pr_auc(&[0.5, 0.5], &[true, false]).unwrap();
        assert!((ap - 0.5).abs() < 1e-12);
        assert_eq!(pr_auc(&[0.5], &[false]), None);
    }

    #[test]
    fn brier_lift_and_calibration_by_hand() {
        let p = [0.9, 0.2, 0.6, 0.1];
        let l = [true, false, false, false];
        // (0.01 + 0.04 + 0.36 + 0.01) / 4
        assert!((brier(&p, &l) - 0.105).abs() < 1e-12);
        // Top 25% = 1 customer, a positive: rate 1 against 0.25 overall → lift 4.
        assert_eq!(lift_at(&p, &l, 0.25), Some(4.0));
        let c = calibration(&p, &l, 2);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].count, c[0].observed), (2, 0.0));
        assert!((c[0].predicted - 0.15).abs() < 1e-12);
        assert_eq!((c[1].count, c[1].observed), (2, 0.5));
        assert!((c[1].predicted - 0.75).abs() < 1e-12);
    }

    #[test]
    fn silhouette_by_hand() {
        // 1-D points 0, 1 (cluster 0) and 4, 5 (cluster 1).
        // Point 0: a = 1, b = (4 + 5) / 2 = 4.5 → s = 3.5 / 4.5; point 1: a = 1, b = 3.5 → 2.5/3.5.
        let x = [0.0, 1.0, 4.0, 5.0];
        let l = [0, 0, 1, 1];
        let want = (2.0 * (3.5 / 4.5) + 2.0 * (2.5 / 3.5)) / 4.0;
        assert!((silhouette(&x, 1, &l).unwrap() - want).abs() < 1e-12);
        // A singleton cluster scores 0 for its point.
        let x = [0.0, 1.0, 10.0];
        let l = [0, 0, 1];
        // Points 0 and 1: a = 1, b = 10 and 9 → 0.9 and 8/9; point 2: 0.
        let want = (0.9 + 8.0 / 9.0 + 0.0) / 3.0;
        assert!((silhouette(&x, 1, &l).unwrap() - want).abs() < 1e-12);
        assert_eq!(silhouette(&x, 1, &[0, 0, 0]), None);
    }

    #[test]
    fn adjusted_rand_index_by_hand() {
        // Same partition under other names.
        assert_eq!(
            adjusted_rand_index(&[0, 0, 1, 1], &["b", "b", "a", "a"]),
            1.0
        );
        // Contingency [[1,1],[1,1]] for n = 4: index 0, expected 2·2/6, max 2 → -0.5.
        let ari = adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]);
        assert!((ari + 0.5).abs() < 1e-12, "{ari}");
        // a = [0,0,0,1,1,1], b = [0,0,1,1,2,2]: index = C(2,2)+C(1,2)... = 1 + 0 + 0 + 1 = 2,
        // sum_a = 3 + 3 = 6, sum_b = 1 + 1 + 1 = 3, expected = 18 / 15 = 1.2, max = 4.5.
        let ari = adjusted_rand_index(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]);
        assert!((ari - (2.0 - 1.2) / (4.5 - 1.2)).abs() < 1e-12, "{ari}");
    }
}

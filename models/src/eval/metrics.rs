//! Metrics: RMSE and the PHM08 score for RUL, F1 / recall / precision and ROC AUC for
//! classifiers.

/// Root mean squared error of `predicted` against `truth`.
pub fn rmse(predicted: &[f64], truth: &[f64]) -> f64 {
    let n = predicted.len().min(truth.len());
    if n == 0 {
        return f64::NAN;
    }
    let sse: f64 = predicted
        .iter()
        .zip(truth)
        .map(|(p, t)| (p - t).powi(2))
        .sum();
    (sse / n as f64).sqrt()
}

/// The PHM08 asymmetric score (Saxena et al. 2008): with `d = predicted - true`, the sum of
/// `exp(-d/13) - 1` for early predictions (`d < 0`) and `exp(d/10) - 1` for late ones. Lower is
/// better; late predictions cost more.
pub fn phm08_score(predicted: &[f64], truth: &[f64]) -> f64 {
    predicted
        .iter()
        .zip(truth)
        .map(|(p, t)| {
            let d = p - t;
            if d < 0.0 {
                (-d / 13.0).exp() - 1.0
            } else {
                (d / 10.0).exp() - 1.0
            }
        })
        .sum()
}

/// Confusion counts and the failure-class F1, recall and precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryMetrics {
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// False negatives.
    pub fn_: usize,
    /// True negatives.
    pub tn: usize,
    /// Precision of the positive class (0 when nothing is predicted positive).
    pub precision: f64,
    /// Recall of the positive class.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

impl BinaryMetrics {
    /// Counts predictions against truth (`true` is the positive, failure class).
    pub fn from_predictions(predicted: &[bool], truth: &[bool]) -> Self {
        let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
        for (&p, &t) in predicted.iter().zip(truth) {
            match (p, t) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => tn += 1,
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        BinaryMetrics {
            tp,
            fp,
            fn_,
            tn,
            precision,
            recall,
            f1,
        }
    }
}

/// Area under the ROC curve of `scores` (higher means more likely positive) against `truth`,
/// by the rank-sum formula with tied scores sharing their average rank. `NaN` if one class is
/// missing.
pub fn roc_auc(scores: &[f64], truth: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        i = j + 1;
    }
    let n_pos = truth.iter().filter(|&&t| t).count() as f64;
    let n_neg = truth.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(truth)
        .filter(|(_, &t)| t)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Average precision of `scores` against `truth`: the mean, over the positives, of the
/// precision among rows scored at least as high as that positive (the area under the
/// precision-recall curve; a random score gets the positive rate). Tied scores share a cut.
pub fn average_precision(scores: &[f64], truth: &[bool]) -> f64 {
    let n_pos = truth.iter().filter(|&&t| t).count();
    if n_pos == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut sum) = (0usize, 0usize, 0.0);
    let mut k = 0;
    while k < order.len() {
        let s = scores[order[k]];
        let mut new_pos = 0;
        while k < order.len() && scores[order[k]] == s {
            seen += 1;
            if truth[order[k]] {
                new_pos += 1;
            }
            k += 1;
        }
        tp += new_pos;
        sum += new_pos as f64 * tp as f64 / seen as f64;
    }
    sum / n_pos as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phm08_penalises_late_predictions_more() {
        let early = phm08_score(&[90.0], &[100.0]);
        let late = phm08_score(&[110.0], &[100.0]);
        assert!(late > early);
        assert!((early - ((10.0f64 / 13.0).exp() - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn auc_of_perfect_random_and_tied_scores() {
        let truth = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &truth), 1.0);
        assert_eq!(roc_auc(&[0.5; 4], &truth), 0.5);
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &truth), 0.0);
    }

    #[test]
    fn average_precision_of_perfect_and_mixed_rankings() {
        assert_eq!(
            average_precision(&[0.9, 0.8, 0.2], &[true, true, false]),
            1.0
        );
        // Positives at ranks 1 and 3: (1/1 + 2/3) / 2.
        let ap = average_precision(&[0.9, 0.8, 0.2], &[true, false, true]);
        assert!((ap - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn f1_from_counts() {
        let m = BinaryMetrics::from_predictions(
            &[true, true, false, false],
            &[true, false, true, false],
        );
        assert_eq!((m.tp, m.fp, m.fn_, m.tn), (1, 1, 1, 1));
        assert_eq!(m.f1, 0.5);
    }
}

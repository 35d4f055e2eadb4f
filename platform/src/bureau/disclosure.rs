//! Disclosure control, as statistical agencies do it for magnitude tables.
//!
//! - **Primary suppression.** A cell is published only when at least `k` tenants contribute
//!   (default 5) and it passes the (n, k) dominance rule: its `n` largest contributors hold at
//!   most `k` of the cell's total (default: the two largest hold at most 85 %), applied to both
//!   the numerator and the denominator of the index.
//! - **Complementary (secondary) suppression.** One index in one period is a table of
//!   sectors × regions with each sector's total, each region's total and the grand total. Each
//!   row and each column is an additive relation (total = Σ cells). A suppressed cell must not
//!   be recoverable from the published cells by any chain of subtractions, nor by any linear
//!   combination of the relations: [`Table::exposed`] finds the suppressed cells that the
//!   published ones determine (exactly, by elimination over the relations), and
//!   [`Table::protect`] suppresses further cells, smallest first, until none is.
//!
//! The protection treats each cell's numerator and denominator as if they were published,
//! which is stricter than what the API shows (ratios and contributor-count bands only).
//! Each period length (day, week, month) is protected on its own.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::index::CellStats;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Fewest contributing tenants for a cell to be published (k).
    pub min_contributors: usize,
    /// How many of the largest contributors the dominance rule adds up (n, at most
    /// [`super::index::TOP`]).
    pub dominance_n: usize,
    /// The share of the cell's total those `n` may hold at most (k of the (n, k) rule).
    pub dominance_share: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            min_contributors: 5,
            dominance_n: 2,
            dominance_share: 0.85,
        }
    }
}

/// Why a cell is not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Fewer contributing tenants than the rule's k.
    TooFewContributors,
    /// The largest contributors hold more than the dominance rule allows.
    Dominance,
    /// Suppressed so that another suppressed cell cannot be recovered from totals.
    Complementary,
    /// The output index's base period is not published for this cell.
    NoBase,
}

impl Reason {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooFewContributors => "too_few_contributors",
            Reason::Dominance => "dominance",
            Reason::Complementary => "complementary",
            Reason::NoBase => "no_base",
        }
    }
}

/// Whether the rules allow publishing a cell on its own, and if not, why.
pub fn primary(stats: &CellStats, rules: &Rules) -> Option<Reason> {
    if stats.n < rules.min_contributors.max(1) {
        return Some(Reason::TooFewContributors);
    }
    let dominated = |top: &[f64], total: f64| {
        let largest: f64 = top.iter().take(rules.dominance_n).map(|v| v.abs()).sum();
        total.abs() > 0.0 && largest > rules.dominance_share * total.abs()
    };
    if dominated(&stats.top_num, stats.num) || dominated(&stats.top_den, stats.den) {
        return Some(Reason::Dominance);
    }
    None
}

/// A cell's standing in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nobody contributes (known to be empty: a zero in every relation).
    Empty,
    /// Published.
    Published,
    /// Withheld, and why.
    Suppressed(Reason),
}

/// One index in one period: sectors × regions with the totals. Cell `(i, j)` with
/// `i == sectors.len()` is a region's total over sectors, `j == regions.len()` a sector's
/// total over regions, both at once the grand total.
#[derive(Debug, Clone)]
pub struct Table {
    /// Sector names (rows).
    pub sectors: Vec<String>,
    /// Region names (columns).
    pub regions: Vec<String>,
    /// The cells' figures, row-major over `(sectors + 1) × (regions + 1)`.
    pub stats: Vec<Option<CellStats>>,
    /// The cells' standing, in the same order.
    pub status: Vec<Status>,
}

impl Table {
    /// A table of `cells`, keyed by (sector or total, region or total); every cell starts
    /// published (or empty).
    pub fn new(
        sectors: Vec<String>,
        regions: Vec<String>,
        mut cell: impl FnMut(Option<&str>, Option<&str>) -> Option<CellStats>,
    ) -> Table {
        let (s, r) = (sectors.len(), regions.len());
        let mut stats = Vec::with_capacity((s + 1) * (r + 1));
        for i in 0..=s {
            for j in 0..=r {
                stats.push(cell(
                    sectors.get(i).map(String::as_str),
                    regions.get(j).map(String::as_str),
                ));
            }
        }
        let status = stats
            .iter()
            .map(|c| match c {
                Some(c) if c.n > 0 => Status::Published,
                _ => Status::Empty,
            })
            .collect();
        Table {
            sectors,
            regions,
            stats,
            status,
        }
    }

    /// The index of cell `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> usize {
        i * (self.regions.len() + 1) + j
    }

    /// The additive relations: each row's and each column's `(total, [cells])`.
    pub fn lines(&self) -> Vec<(usize, Vec<usize>)> {
        let (s, r) = (self.sectors.len(), self.regions.len());
        let mut out = Vec::new();
        for i in 0..=s {
            out.push((self.at(i, r), (0..r).map(|j| self.at(i, j)).collect()));
        }
        for j in 0..=r {
            out.push((self.at(s, j), (0..s).map(|i| self.at(i, j)).collect()));
        }
        out
    }

    fn is_total(&self, idx: usize) -> bool {
        let w = self.regions.len() + 1;
        idx / w == self.sectors.len() || idx % w == self.regions.len()
    }

    /// Applies primary suppression to every cell, then complementary suppression until no
    /// suppressed cell is exposed.
    pub fn protect(&mut self, rules: &Rules) {
        for (k, st) in self.stats.iter().enumerate() {
            if let (Some(st), Status::Published) = (st, self.status[k]) {
                if let Some(reason) = primary(st, rules) {
                    self.status[k] = Status::Suppressed(reason);
                }
            }
        }
        self.complete();
    }

    /// Complementary suppression: while some suppressed cell is exposed, suppress one more
    /// published cell sharing a row or column with an exposed cell: the one that leaves the
    /// fewest cells exposed, then cells before totals, fewest contributors, smallest
    /// denominator. When no such cell is left, the same choice over the whole table.
    pub fn complete(&mut self) {
        let w = self.regions.len() + 1;
        loop {
            let exposed = self.exposed();
            if exposed.is_empty() {
                return;
            }
            let published: Vec<usize> = (0..self.stats.len())
                .filter(|k| self.status[*k] == Status::Published)
                .collect();
            let near: Vec<usize> = published
                .iter()
                .copied()
                .filter(|k| exposed.iter().any(|c| c / w == k / w || c % w == k % w))
                .collect();
            let candidates = if near.is_empty() { published } else { near };
            let mut best: Option<(usize, (usize, bool, usize, f64))> = None;
            for k in candidates {
                self.status[k] = Status::Suppressed(Reason::Complementary);
                let left = self.exposed().len();
                self.status[k] = Status::Published;
                let st = self.stats[k].as_ref();
                let cost = (
                    left,
                    self.is_total(k),
                    st.map_or(0, |s| s.n),
                    st.map_or(0.0, |s| s.den),
                );
                let better = best.as_ref().is_none_or(|(_, b)| {
                    (cost.0, cost.1, cost.2)
                        .cmp(&(b.0, b.1, b.2))
                        .then(cost.3.total_cmp(&b.3))
                        == std::cmp::Ordering::Less
                });
                if better {
                    best = Some((k, cost));
                }
            }
            match best {
                Some((k, _)) => self.status[k] = Status::Suppressed(Reason::Complementary),
                // Nothing left to suppress: everything is withheld already.
                None => return,
            }
        }
    }

    /// The suppressed cells whose value the published cells determine, through any linear
    /// combination of the table's relations (so also through any chain of subtractions).
    pub fn exposed(&self) -> Vec<usize> {
        let unknown: Vec<usize> = (0..self.status.len())
            .filter(|k| matches!(self.status[*k], Status::Suppressed(_)))
            .collect();
        if unknown.is_empty() {
            return Vec::new();
        }
        let col = |k: usize| unknown.iter().position(|u| *u == k);
        // One row per relation, over the unknowns only: total − Σ cells = 0.
        let mut m: Vec<Vec<f64>> = self
            .lines()
            .into_iter()
            .map(|(total, cells)| {
                let mut row = vec![0.0; unknown.len()];
                if let Some(c) = col(total) {
                    row[c] += 1.0;
                }
                for k in cells {
                    if let Some(c) = col(k) {
                        row[c] -= 1.0;
                    }
                }
                row
            })
            .collect();
        determined(&mut m).into_iter().map(|c| unknown[c]).collect()
    }
}

/// The columns of `m` fixed by `m x = b` for any `b`: after reduction to row echelon form,
/// a pivot whose row has no other non-zero entry. The relations' matrix is totally unimodular
/// (a network matrix), so elimination stays on small integers and the tolerance is safe.
fn determined(m: &mut [Vec<f64>]) -> Vec<usize> {
    const EPS: f64 = 1e-9;
    let cols = m.first().map_or(0, Vec::len);
    let mut pivots = Vec::new();
    let mut r = 0;
    for c in 0..cols {
        let Some(p) = (r..m.len()).find(|i| m[*i][c].abs() > EPS) else {
            continue;
        };
        m.swap(r, p);
        let lead = m[r][c];
        for v in m[r].iter_mut() {
            *v /= lead;
        }
        for i in 0..m.len() {
            if i != r && m[i][c].abs() > EPS {
                let f = m[i][c];
                let pivot_row = m[r].clone();
                for (v, p) in m[i].iter_mut().zip(pivot_row) {
                    *v -= f * p;
                }
            }
        }
        pivots.push((r, c));
        r += 1;
        if r == m.len() {
            break;
        }
    }
    pivots
        .into_iter()
        .filter(|(row, c)| (0..cols).all(|k| k == *c || m[*row][k].abs() <= EPS))
        .map(|(_, c)| c)
        .collect()
}

/// The attacker: given every cell's true value and which cells are known (published or
/// empty), tries every subtraction a table allows — a total minus all its other published
/// cells, or the sum of a line's cells for its total — and keeps going with what it learns
/// until nothing new comes out. Returns the cells it recovered that were not known, with the
/// values it found.
pub fn subtraction_attack(
    lines: &[(usize, Vec<usize>)],
    values: &[f64],
    known: &[bool],
) -> Vec<(usize, f64)> {
    let mut learnt: Vec<Option<f64>> = values
        .iter()
        .zip(known)
        .map(|(v, k)| k.then_some(*v))
        .collect();
    let mut recovered = Vec::new();
    loop {
        let mut progress = false;
        for (total, cells) in lines {
            let unknown: Vec<usize> = std::iter::once(*total)
                .chain(cells.iter().copied())
                .filter(|k| learnt[*k].is_none())
                .collect();
            if unknown.len() != 1 {
                continue;
            }
            let u = unknown[0];
            let sum_cells: f64 = cells.iter().filter_map(|k| learnt[*k]).sum();
            let v = if u == *total {
                sum_cells
            } else {
                learnt[*total].unwrap_or(0.0) - sum_cells
            };
            learnt[u] = Some(v);
            recovered.push((u, v));
            progress = true;
        }
        if !progress {
            return recovered;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bureau::index::{cells, Contribution, Metric, Period, Ratio};

    fn stats(values: &[f64]) -> CellStats {
        CellStats::of(values.iter().map(|v| Ratio { num: *v, den: 1.0 }))
    }

    #[test]
    fn primary_rules_k_and_dominance() {
        let rules = Rules::default();
        assert_eq!(
            primary(&stats(&[1.0; 4]), &rules),
            Some(Reason::TooFewContributors)
        );
        assert_eq!(primary(&stats(&[1.0; 5]), &rules), None);
        // Two largest hold 86/100 > 85 %.
        assert_eq!(
            primary(&stats(&[60.0, 26.0, 5.0, 5.0, 4.0]), &rules),
            Some(Reason::Dominance)
        );
        // Exactly 85 % is allowed.
        assert_eq!(primary(&stats(&[60.0, 25.0, 5.0, 5.0, 5.0]), &rules), None);
        // Dominance in the denominator counts too.
        let mut s = stats(&[1.0; 6]);
        s.top_den = vec![90.0, 5.0];
        s.den = 100.0;
        assert_eq!(primary(&s, &rules), Some(Reason::Dominance));
        // A zero total is not dominated by anybody.
        assert_eq!(primary(&stats(&[0.0; 6]), &rules), None);
    }

    /// A deterministic generator, so that a failure names its seed.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Tenants spread over 3 sectors × `regions` regions, with skewed sizes, as the cells a
    /// bureau would see for one index and period.
    fn random_table(seed: u64, tenants: usize, regions: usize) -> Table {
        let mut g = Lcg(seed);
        let sectors = ["appliance", "garment", "machinery"];
        let contribs: Vec<Contribution> = (0..tenants)
            .map(|t| {
                // A few big tenants among many small ones.
                let size = if g.below(10) == 0 { 50.0 } else { 1.0 } * (1 + g.below(20)) as f64;
                Contribution {
                    tenant: t as i32,
                    sector: sectors[g.below(3) as usize].into(),
                    // Regions are unevenly popular.
                    region: format!("r{}", g.below(regions as u64).min(g.below(regions as u64))),
                    day: "2026-12-01".parse().unwrap(),
                    metric: Metric::Utilisation,
                    ratio: Ratio {
                        num: size * (g.below(100) as f64) / 100.0,
                        den: size,
                    },
                }
            })
            .collect();
        let cells = cells(&contribs, Period::Day);
        let mut sec: Vec<String> = contribs.iter().map(|c| c.sector.clone()).collect();
        let mut reg: Vec<String> = contribs.iter().map(|c| c.region.clone()).collect();
        sec.sort();
        sec.dedup();
        reg.sort();
        reg.dedup();
        Table::new(sec, reg, |s, r| {
            cells
                .iter()
                .find(|(k, _)| k.sector.as_deref() == s && k.region.as_deref() == r)
                .map(|(_, v)| v.clone())
        })
    }

    fn attack(t: &Table) -> Vec<(usize, f64, f64)> {
        let known: Vec<bool> = t
            .status
            .iter()
            .map(|s| !matches!(s, Status::Suppressed(_)))
            .collect();
        let mut found = Vec::new();
        for field in [|s: &CellStats| s.num, |s: &CellStats| s.den] {
            let values: Vec<f64> = t
                .stats
                .iter()
                .map(|s| s.as_ref().map_or(0.0, field))
                .collect();
            for (k, v) in subtraction_attack(&t.lines(), &values, &known) {
                found.push((k, v, values[k]));
            }
        }
        found
    }

    #[test]
    fn without_complementary_suppression_the_attack_recovers_hidden_values() {
        // The control: the attack below is real. With primary suppression alone, some table
        // gives a suppressed cell away, to the last digit.
        let mut recovered = 0;
        for seed in 0..50 {
            let mut t = random_table(seed, 120, 10);
            for k in 0..t.stats.len() {
                if let (Some(st), Status::Published) = (&t.stats[k], t.status[k]) {
                    if let Some(r) = primary(st, &Rules::default()) {
                        t.status[k] = Status::Suppressed(r);
                    }
                }
            }
            let exposed = t.exposed();
            for (k, got, truth) in attack(&t) {
                assert!((got - truth).abs() < 1e-6 * truth.abs().max(1.0));
                // Whatever the subtractions find, the elimination finds too.
                assert!(exposed.contains(&k), "seed {seed}: cell {k}");
                recovered += 1;
            }
        }
        assert!(recovered > 0, "the control table never exposed a cell");
    }

    #[test]
    fn every_subtraction_fails_to_recover_a_suppressed_cell() {
        let mut suppressed = 0;
        let mut complementary = 0;
        let mut published = 0;
        for seed in 0..300 {
            let tenants = 20 + (seed as usize * 7) % 400;
            let regions = 2 + seed as usize % 10;
            let mut t = random_table(seed, tenants, regions);
            t.protect(&Rules::default());
            let found = attack(&t);
            assert!(
                found.is_empty(),
                "seed {seed}: subtraction recovered {found:?} from {:?}",
                t.status
            );
            assert!(t.exposed().is_empty(), "seed {seed}: a cell is determined");
            for (k, st) in t.status.iter().enumerate() {
                match st {
                    Status::Published => {
                        published += 1;
                        let s = t.stats[k].as_ref().unwrap();
                        assert_eq!(primary(s, &Rules::default()), None, "seed {seed}");
                    }
                    Status::Suppressed(Reason::Complementary) => complementary += 1,
                    Status::Suppressed(_) => suppressed += 1,
                    Status::Empty => assert!(t.stats[k].as_ref().is_none_or(|s| s.n == 0)),
                }
            }
        }
        // The tables exercised every case.
        assert!(suppressed > 100 && complementary > 100 && published > 100);
    }

    #[test]
    fn a_bridge_between_two_protected_blocks_is_found() {
        // Suppressed cells forming two separate cycles joined by one cell: each row and
        // column has two suppressed cells, yet the joining cell is determined. The
        // elimination sees it; a per-line count would not.
        let names = |n: usize| (0..n).map(|i| format!("x{i}")).collect::<Vec<_>>();
        let mut t = Table::new(names(4), names(4), |_, _| Some(stats(&[1.0; 9])));
        let sup = |t: &mut Table, i, j| {
            let k = t.at(i, j);
            t.status[k] = Status::Suppressed(Reason::Dominance)
        };
        for (i, j) in [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (2, 2),
            (2, 3),
            (3, 2),
            (3, 3),
            (1, 2),
        ] {
            sup(&mut t, i, j);
        }
        assert_eq!(t.exposed(), [t.at(1, 2)]);
        t.complete();
        assert!(t.exposed().is_empty());
    }
}

"""Independent reference for the platform's SPC charts, run rules and capability indices.

Reads a JSON case on stdin and prints the reference figures as JSON. Written apart from the
Rust code and by other routes where there is one:
- d2, d3 from the distribution function of the range, P(W <= w) = n * int phi(x) (Phi(x+w) -
  Phi(x))^(n-1) dx, integrated with Simpson's rule in x and SciPy's adaptive quadrature in w
  (the Rust code integrates the moments of the range directly, on a grid);
- c4 from scipy.special.gammaln; chi-square and normal quantiles from scipy.stats;
- the run rules as sliding windows over zone counts with NumPy.
"""

import json
import sys

import numpy as np
from scipy import integrate, special, stats


GRID = np.linspace(-10.0, 10.0, 8001)
PDF = stats.norm.pdf(GRID)
CDF = stats.norm.cdf(GRID)


def range_moments(n):
    def cdf(w):
        # Simpson's rule over x on a fine grid (vectorised), adaptive quadrature over w.
        inner = PDF * (stats.norm.cdf(GRID + w) - CDF) ** (n - 1)
        return n * integrate.simpson(inner, x=GRID)

    mean = integrate.quad(lambda w: 1.0 - cdf(w), 0, np.inf, epsabs=1e-11, limit=200)[0]
    second = integrate.quad(lambda w: 2.0 * w * (1.0 - cdf(w)), 0, np.inf, epsabs=1e-11, limit=200)[0]
    return mean, np.sqrt(second - mean * mean)


def c4(n):
    return np.sqrt(2.0 / (n - 1)) * np.exp(special.gammaln(n / 2.0) - special.gammaln((n - 1) / 2.0))


def constants(n):
    d2, d3 = range_moments(n)
    k = c4(n)
    return {
        "d2": d2,
        "d3": d3,
        "c4": k,
        "a2": 3 / (d2 * np.sqrt(n)),
        "a3": 3 / (k * np.sqrt(n)),
        "d3_lower": max(0.0, 1 - 3 * d3 / d2),
        "d4_upper": 1 + 3 * d3 / d2,
        "b3": max(0.0, 1 - 3 * np.sqrt(1 - k * k) / k),
        "b4": 1 + 3 * np.sqrt(1 - k * k) / k,
    }


def rules(values, centre, sigma, rule_set):
    z = (np.asarray(values) - centre) / sigma
    n = len(z)
    side = np.sign(z)
    up = np.diff(values) > 0
    down = np.diff(values) < 0
    found = []

    def beyond(i, k, m, s):
        if i + 1 < m or side[i] == 0 or abs(z[i]) <= s:
            return False
        w = slice(i + 1 - m, i + 1)
        return np.sum((side[w] == side[i]) & (np.abs(z[w]) > s)) >= k

    def same_side(i, m):
        return i + 1 >= m and side[i] != 0 and np.all(side[i + 1 - m : i + 1] == side[i])

    def trend(i, m):
        if i + 1 < m:
            return False
        d = slice(i + 1 - m, i)  # the m-1 differences ending at i
        return bool(np.all(up[d]) or np.all(down[d]))

    def alternating(i, m):
        if i + 1 < m:
            return False
        d = np.diff(values[i + 1 - m : i + 1])
        return bool(np.all(d[:-1] * d[1:] < 0))

    def within(i, m):
        return i + 1 >= m and np.all(np.abs(z[i + 1 - m : i + 1]) < 1)

    def outside(i, m):
        return i + 1 >= m and np.all(np.abs(z[i + 1 - m : i + 1]) > 1)

    tests = {
        "limits_only": [(1, lambda i: beyond(i, 1, 1, 3))],
        "western_electric": [
            (1, lambda i: beyond(i, 1, 1, 3)),
            (2, lambda i: beyond(i, 2, 3, 2)),
            (3, lambda i: beyond(i, 4, 5, 1)),
            (4, lambda i: same_side(i, 8)),
        ],
        "nelson": [
            (1, lambda i: beyond(i, 1, 1, 3)),
            (2, lambda i: same_side(i, 9)),
            (3, lambda i: trend(i, 6)),
            (4, lambda i: alternating(i, 14)),
            (5, lambda i: beyond(i, 2, 3, 2)),
            (6, lambda i: beyond(i, 4, 5, 1)),
            (7, lambda i: within(i, 15)),
            (8, lambda i: outside(i, 8)),
        ],
    }[rule_set]
    for i in range(n):
        for number, test in tests:
            if test(i):
                found.append([number, i])
    return found


def beyond_limits(values, lcl, ucl, first_index):
    return [[1, i + first_index] for i, v in enumerate(values) if v > ucl or v < lcl]


def capability(values, sigma_within, within_df, lsl, usl, confidence):
    x = np.asarray(values)
    n = len(x)
    mean = x.mean()
    overall = x.std(ddof=1)
    alpha = 1 - confidence
    z = stats.norm.ppf(1 - alpha / 2)

    def spread(sigma, df):
        v = (usl - lsl) / (6 * sigma)
        return [v, v * np.sqrt(stats.chi2.ppf(alpha / 2, df) / df), v * np.sqrt(stats.chi2.ppf(1 - alpha / 2, df) / df)]

    def centred(sigma, df):
        v = min(usl - mean, mean - lsl) / (3 * sigma)
        h = z * np.sqrt(1 / (9 * (df + 1)) + v * v / (2 * df))
        return [v, v - h, v + h]

    def ppm(sigma):
        return (stats.norm.cdf((lsl - mean) / sigma) + stats.norm.sf((usl - mean) / sigma)) * 1e6

    return {
        "cp": spread(sigma_within, within_df),
        "cpk": centred(sigma_within, within_df),
        "pp": spread(overall, n - 1),
        "ppk": centred(overall, n - 1),
        "ppm_within": ppm(sigma_within),
        "ppm_overall": ppm(overall),
    }


def main():
    case = json.load(sys.stdin)
    out = {"constants": {str(n): constants(n) for n in case["constant_sizes"]}}

    # I-MR.
    x = np.asarray(case["observations"], dtype=float)
    lo, hi = case["individuals_baseline"]
    k2 = out["constants"]["2"]
    mr = np.abs(np.diff(x))
    mr_bar = np.abs(np.diff(x[lo:hi])).mean()
    centre = x[lo:hi].mean()
    sigma = mr_bar / k2["d2"]
    ucl, lcl = centre + 3 * sigma, centre - 3 * sigma
    out["imr"] = {
        "centre": centre,
        "ucl": ucl,
        "lcl": lcl,
        "mr_centre": mr_bar,
        "mr_ucl": k2["d4_upper"] * mr_bar,
        "mr_lcl": k2["d3_lower"] * mr_bar,
        "sigma_within": sigma,
        "western_electric": rules(x, centre, sigma, "western_electric"),
        "nelson": rules(x, centre, sigma, "nelson"),
        "mr_violations": beyond_limits(mr, k2["d3_lower"] * mr_bar, k2["d4_upper"] * mr_bar, 1),
    }

    # X-bar R and X-bar S.
    groups = np.asarray(case["subgroups"], dtype=float)
    lo, hi = case["subgroup_baseline"]
    n = groups.shape[1]
    k = out["constants"][str(n)]
    means = groups.mean(axis=1)
    ranges = groups.max(axis=1) - groups.min(axis=1)
    sds = groups.std(axis=1, ddof=1)
    grand = means[lo:hi].mean()
    for name, spread, centre_spread, sigma_w, factor, lower, upper in [
        ("xbar_r", ranges, ranges[lo:hi].mean(), ranges[lo:hi].mean() / k["d2"], k["a2"], k["d3_lower"], k["d4_upper"]),
        ("xbar_s", sds, sds[lo:hi].mean(), sds[lo:hi].mean() / k["c4"], k["a3"], k["b3"], k["b4"]),
    ]:
        sigma_mean = factor * centre_spread / 3
        out[name] = {
            "centre": grand,
            "ucl": grand + factor * centre_spread,
            "lcl": grand - factor * centre_spread,
            "spread_centre": centre_spread,
            "spread_ucl": upper * centre_spread,
            "spread_lcl": lower * centre_spread,
            "sigma_within": sigma_w,
            "western_electric": rules(means, grand, sigma_mean, "western_electric"),
            "nelson": rules(means, grand, sigma_mean, "nelson"),
            "spread_violations": beyond_limits(spread, lower * centre_spread, upper * centre_spread, 0),
        }

    spec = case["spec"]
    out["capability_individuals"] = capability(
        x, out["imr"]["sigma_within"], len(x) - 1, spec["lsl"], spec["usl"], case["confidence"]
    )
    out["capability_subgroups"] = capability(
        groups.ravel(), out["xbar_s"]["sigma_within"], groups.shape[0] * (n - 1), spec["lsl"], spec["usl"], case["confidence"]
    )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

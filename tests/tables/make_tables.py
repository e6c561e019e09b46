#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Makes the tables tests/train.sh runs tools/train on, and the figures it
compares against, computed here with numpy alone (never with bpgraph).

    python3 tests/tables/make_tables.py      # rewrites tests/tables/*.csv, expected.txt

Every table is drawn from a seeded generator, so the files repeat exactly.
Classification tables have Gaussian classes with one shared covariance, for
which a multinomial logistic regression is the right model; regression
tables a linear target plus noise.  For each table, expected.txt holds:

  <table> ordered_logreg_acc  test accuracy of a logistic regression fitted
                              on the --ordered split (first 70% train, next
                              15% valid, last 15% test), inputs standardised
                              on the training rows
  <table> shuffled_logreg_acc mean test accuracy of the same over 20 random
                              70/15/15 splits, and its standard deviation
  <table> ordered_lstsq_mse   least-squares test MSE on the --ordered split
                              (numpy.linalg.lstsq, minimum norm), its rank
"""
import csv
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def standardise(x, train):
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std[std == 0] = 1.0
    return (x - mean) / std


def ordered_split(n, valid=0.15, test=0.15):
    n_valid, n_test = int(np.floor(n * valid)), int(np.floor(n * test))
    n_train = n - n_valid - n_test
    idx = np.arange(n)
    return idx[:n_train], idx[n_train:n_train + n_valid], idx[n_train + n_valid:]


def logreg_accuracy(x, y, k, train, test, l2=1e-4, steps=4000):
    """Multinomial logistic regression by full-batch gradient descent with
    momentum on the cross-entropy plus a small L2 term (so that separable
    classes still have a finite optimum); the test split's accuracy."""
    xs = standardise(x, train)
    a = np.hstack([xs, np.ones((len(x), 1))])
    at, yt = a[train], np.eye(k)[y[train]]
    w = np.zeros((a.shape[1], k))
    v = np.zeros_like(w)
    for _ in range(steps):
        z = at @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = at.T @ (p - yt) / len(train) + l2 * w
        v = 0.9 * v - 0.5 * g
        w += v
    return float(np.mean(np.argmax(a[test] @ w, axis=1) == y[test]))


def lstsq_mse(x, t, train, test):
    xs = standardise(x, train)
    # drop inputs constant on the training split, as tools/train does
    keep = np.ptp(x[train], axis=0) > 0
    a = np.hstack([xs[:, keep], np.ones((len(x), 1))])
    coef, _, rank, _ = np.linalg.lstsq(a[train], t[train], rcond=None)
    return float(np.mean((a[test] @ coef - t[test]) ** 2)), int(rank), a.shape[1]


def shuffled_logreg(x, y, k, rng, rounds=20):
    accs = []
    n = len(x)
    for _ in range(rounds):
        perm = rng.permutation(n)
        tr, _, te = ordered_split(n)
        accs.append(logreg_accuracy(x[perm], y[perm], k, tr, te))
    return float(np.mean(accs)), float(np.std(accs))


def r6(a):
    """Values as the CSV holds them (6 decimals), so that the figures are
    those of the file."""
    return np.round(a, 6)


def gaussian_classes(rng, n, k, d, spread):
    """n rows of k classes (uneven shares) in d dimensions, one covariance."""
    shares = rng.uniform(0.5, 1.5, k)
    y = rng.choice(k, size=n, p=shares / shares.sum())
    means = rng.normal(0, spread, (k, d))
    mix = rng.normal(0, 1, (d, d)) / np.sqrt(d) + np.eye(d)
    x = means[y] + rng.normal(0, 1, (n, d)) @ mix
    return r6(x), y


def write(name, header, columns):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in zip(*columns):
            w.writerow([c if isinstance(c, str) else repr(float(c)) for c in row])


def main():
    rng = np.random.default_rng(20261201)
    lines = []

    def classification(name, x, y, k, names, labels, extra=None):
        extra = extra or []
        header = [e[0] for e in extra] + names + ["label"]
        write(name, header, [e[1] for e in extra] + list(x.T) + [labels])
        tr, _, te = ordered_split(len(x))
        lines.append(f"{name} ordered_logreg_acc {logreg_accuracy(x, y, k, tr, te):.6f}")
        mean, sd = shuffled_logreg(x, y, k, rng)
        lines.append(f"{name} shuffled_logreg_acc {mean:.6f} {sd:.6f}")

    # 2 classes, integer labels 0/1, 6 inputs
    x, y = gaussian_classes(rng, 600, 2, 6, 0.9)
    classification("cls2.csv", x, y, 2, [f"x{j}" for j in range(6)], [str(c) for c in y])

    # 10 classes with text labels (one holds a comma), 8 inputs, and a text
    # id column that is not an input
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
             "india", "juliett, the last"]
    x, y = gaussian_classes(rng, 1200, 10, 8, 1.6)
    ids = [f"id{i:05d}" for i in range(len(y))]
    classification("cls10_text.csv", x, y, 10, [f"f{j}" for j in range(8)],
                   [words[c] for c in y], extra=[("id", ids)])

    # 4 classes, integer labels 1..4, the file sorted by label, one input
    # constant: the --ordered split would test one class only
    x, y = gaussian_classes(rng, 800, 4, 5, 1.2)
    order = np.argsort(y, kind="stable")
    x, y = x[order], y[order]
    x = np.hstack([x, np.full((len(x), 1), 3.25)])
    write("cls4_sorted.csv", [f"v{j}" for j in range(5)] + ["const", "label"],
          list(x.T) + [[str(c + 1) for c in y]])
    mean, sd = shuffled_logreg(x[:, :5], y, 4, rng)
    lines.append(f"cls4_sorted.csv shuffled_logreg_acc {mean:.6f} {sd:.6f}")

    # regression: 5 inputs, a linear target plus noise; one input's name
    # holds a comma
    n = 800
    x = rng.normal(0, 1, (n, 5)) * [1.0, 2.0, 0.5, 3.0, 1.5] + [10, -4, 0, 2.5, 7]
    x = r6(x)
    t = r6(x @ [1.5, -0.75, 2.0, 0.25, -1.0] + 4.0 + rng.normal(0, 1.0, n))
    write("reg.csv", ["a", "b", "c", "d,e", "f", "price"], list(x.T) + [t])
    tr, _, te = ordered_split(n)
    mse, rank, cols = lstsq_mse(x, t, tr, te)
    lines.append(f"reg.csv ordered_lstsq_mse {mse:.9g} {rank} {cols}")

    # regression with dependent columns (s = p + q, r2 = 2 p) and a constant
    # one: least squares has rank 4 of 6 once the constant is dropped
    p, q, u = r6(rng.normal(0, 1, (3, n)))
    s, r2, k0 = p + q, 2 * p, np.full(n, -1.5)
    t = r6(3 * p - 2 * q + 0.5 * u + 1 + rng.normal(0, 0.5, n))
    x = np.stack([p, q, s, r2, u, k0], axis=1)
    write("reg_dependent.csv", ["p", "q", "s", "r2", "u", "k0", "y"], list(x.T) + [t])
    mse, rank, cols = lstsq_mse(x, t, tr, te)
    lines.append(f"reg_dependent.csv ordered_lstsq_mse {mse:.9g} {rank} {cols}")

    # 7 rows: least squares fits the training rows exactly; and a constant
    # target
    x = r6(rng.normal(0, 1, (7, 6)))
    write("tiny.csv", [f"z{j}" for j in range(6)] + ["y", "flat"],
          list(x.T) + [r6(x @ rng.normal(0, 1, 6)), np.full(7, 2.5)])

    with open(os.path.join(HERE, "expected.txt"), "w") as f:
        f.write("# written by make_tables.py; see its docstring\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

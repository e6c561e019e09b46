#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The numpy side of the differential test (tests/diffgraph.sh).

Reads the graphs tests/diffgraph_gen prints (the format is in its header
comment), recomputes every node's value and every param's gradient with
numpy -- each op's forward and vector-Jacobian product written here from
its formula, sharing no code with bpgraph -- and compares them with what
bpgraph printed.  Exit status 0 when all agree, 1 otherwise (the first
disagreements are printed).

    diffgraph_ref.py FILE
"""
import sys

import numpy as np

RTOL = 1e-9     # bpgraph and numpy sum in different orders
ATOL = 1e-12


def unbroadcast(g, shape):
    """Sums g over the axes that were broadcast from shape."""
    for axis in (0, 1):
        if shape[axis] == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def nll_loss_p(p):
    """nll's documented reading of a probability: p <= 0 (underflowed) as
    the smallest positive double; its gradient reads p as at least 1e-300."""
    return np.where(p <= 0.0, 5e-324, p)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(op, attr, x):
    """The value of op on the input values x."""
    a = x[0]
    if op == "neg":
        return -a
    if op == "scale":
        return attr * a
    if op == "exp":
        return np.exp(a)
    if op == "log":
        return np.log(a)
    if op == "pow":
        return np.power(a, attr)
    if op == "sqrt":
        return np.sqrt(a)
    if op == "relu":
        return np.maximum(a, 0.0)
    if op == "sigmoid":
        return 1.0 / (1.0 + np.exp(-a))
    if op == "tanh":
        return np.tanh(a)
    if op == "transpose":
        return a.T.copy()
    if op == "rowsum":
        return a.sum(axis=1, keepdims=True)
    if op == "colsum":
        return a.sum(axis=0, keepdims=True)
    if op == "sum":
        return np.array([[a.sum()]])
    if op == "mean":
        return np.array([[a.mean()]])
    if op == "rowmax":
        return a.max(axis=1, keepdims=True)
    if op == "softmax":
        return softmax(a)
    if op == "detach":
        return a.copy()
    if op == "add":
        return a + x[1]
    if op == "sub":
        return a - x[1]
    if op == "mul":
        return a * x[1]
    if op == "div":
        return a / x[1]
    if op == "matmul":
        return a @ x[1]
    if op == "dense":
        return a @ x[1] + x[2]
    if op == "dense_relu":
        return np.maximum(a @ x[1] + x[2], 0.0)
    if op == "mse":
        return np.array([[((a - x[1]) ** 2).mean()]])
    if op == "nll":
        return np.array([[-(x[1] * np.log(nll_loss_p(a))).sum() / a.shape[0]]])
    if op == "softmax_ce":
        m = a.max(axis=1, keepdims=True)
        logp = (a - m) - np.log(np.exp(a - m).sum(axis=1, keepdims=True))
        return np.array([[-(x[1] * logp).sum() / a.shape[0]]])
    raise ValueError("unknown op " + op)


def vjp(op, attr, x, y, g):
    """The gradients of op's inputs given its output's gradient g (None for
    an input that gets none)."""
    a = x[0]
    if op == "neg":
        return [-g]
    if op == "scale":
        return [attr * g]
    if op == "exp":
        return [g * y]
    if op == "log":
        return [g / a]
    if op == "pow":
        return [np.zeros_like(a) if attr == 0.0 else g * attr * np.power(a, attr - 1.0)]
    if op == "sqrt":
        return [g * 0.5 / np.sqrt(a)]
    if op == "relu":
        return [g * (a > 0.0)]
    # from the input: y (1 - y) and 1 - y^2 are 0 once y rounds to 1 or -1;
    # cosh a overflows to inf where the slope underflows to 0
    if op == "sigmoid":
        with np.errstate(over="ignore"):
            return [g / (2.0 + 2.0 * np.cosh(a))]
    if op == "tanh":
        with np.errstate(over="ignore"):
            return [g / np.cosh(a) ** 2]
    if op == "transpose":
        return [g.T]
    if op in ("rowsum", "colsum", "sum"):
        return [np.broadcast_to(g, a.shape).copy()]
    if op == "mean":
        return [np.full(a.shape, g[0, 0] / a.size)]
    if op == "rowmax":
        d = np.zeros_like(a)
        d[np.arange(a.shape[0]), a.argmax(axis=1)] = g[:, 0]   # the first arg-max
        return [d]
    if op == "softmax":
        return [y * (g - (g * y).sum(axis=1, keepdims=True))]
    if op == "detach":
        return [None]
    b = x[1]
    if op == "add":
        return [unbroadcast(g, a.shape), unbroadcast(g, b.shape)]
    if op == "sub":
        return [unbroadcast(g, a.shape), unbroadcast(-g, b.shape)]
    if op == "mul":
        return [unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)]
    if op == "div":
        return [unbroadcast(g / b, a.shape), unbroadcast(-g * a / (b * b), b.shape)]
    if op == "matmul":
        return [g @ b.T, a.T @ g]
    if op in ("dense", "dense_relu"):
        if op == "dense_relu":
            g = g * (y > 0.0)
        return [g @ b.T, a.T @ g, g.sum(axis=0, keepdims=True)]
    m = a.shape[0]
    if op == "mse":
        d = 2.0 * g[0, 0] * (a - b) / a.size
        return [d, -d]
    if op == "nll":
        return [-g[0, 0] * b / (m * np.maximum(a, 1e-300)), -g[0, 0] * np.log(nll_loss_p(a)) / m]
    if op == "softmax_ce":
        p = softmax(a)
        shifted = a - a.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return [g[0, 0] * (p * b.sum(axis=1, keepdims=True) - b) / m, -g[0, 0] * logp / m]
    raise ValueError("unknown op " + op)


def matrix(fields):
    r, c = int(fields[0]), int(fields[1])
    return np.array([float(v) for v in fields[2:2 + r * c]]).reshape(r, c)


def close(got, want):
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    return got.shape == want.shape and np.all(np.abs(got - want) <= RTOL * np.abs(want) + ATOL * scale)


class Graph:
    def __init__(self, index):
        self.index = index
        self.values = {}     # id -> numpy value
        self.params = set()
        self.ops = {}        # id -> (op, attr, inputs)
        self.loss = None
        self.bp_values = {}
        self.bp_grads = {}

    def check(self, report):
        for i in sorted(self.ops):
            op, attr, ins = self.ops[i]
            self.values[i] = forward(op, attr, [self.values[k] for k in ins])
        for i, v in self.bp_values.items():
            if not close(v, self.values[i]):
                report("graph %d: value of node %d (%s): bpgraph %s, numpy %s" % (
                    self.index, i, self.ops.get(i, ("leaf",))[0], v.tolist(), self.values[i].tolist()))
        grads = {self.loss: np.ones((1, 1))}
        for i in sorted(self.ops, reverse=True):
            if i not in grads or i > self.loss:
                continue
            op, attr, ins = self.ops[i]
            din = vjp(op, attr, [self.values[k] for k in ins], self.values[i], grads[i])
            for k, d in zip(ins, din):
                if d is not None:
                    grads[k] = grads[k] + d if k in grads else d
        for p in sorted(self.params):
            if p in self.bp_grads and p in grads:
                if not close(self.bp_grads[p], grads[p]):
                    report("graph %d: gradient of param %d: bpgraph %s, numpy %s" % (
                        self.index, p, self.bp_grads[p].tolist(), grads[p].tolist()))
            elif (p in self.bp_grads) != (p in grads):
                report("graph %d: param %d has a gradient in %s only" % (
                    self.index, p, "bpgraph" if p in self.bp_grads else "numpy"))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    failures = []
    graphs = []
    g = None
    with open(sys.argv[1]) as f:
        for line in f:
            t = line.split()
            kind = t[0]
            if kind == "G":
                g = Graph(int(t[1]))
                graphs.append(g)
            elif kind in ("P", "C"):
                g.values[int(t[1])] = matrix(t[2:])
                if kind == "P":
                    g.params.add(int(t[1]))
            elif kind == "O":
                attr = None if t[3] == "-" else float(t[3])
                g.ops[int(t[1])] = (t[2], attr, [int(k) for k in t[5:5 + int(t[4])]])
            elif kind == "L":
                g.loss = int(t[1])
            elif kind == "V":
                g.bp_values[int(t[1])] = matrix(t[2:])
            elif kind == "D":
                g.bp_grads[int(t[1])] = matrix(t[2:])
    ops = set()
    for g in graphs:
        g.check(failures.append)
        ops.update(op for op, _, _ in g.ops.values())
    for msg in failures[:20]:
        print(msg)
    print("diffgraph: %d graphs, %d ops (%s), %d disagreements" % (
        len(graphs), sum(len(g.ops) for g in graphs), " ".join(sorted(ops)), len(failures)))
    sys.exit(1 if failures or not graphs else 0)


if __name__ == "__main__":
    main()

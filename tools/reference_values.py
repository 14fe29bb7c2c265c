#!/usr/bin/env python3
"""Independent numpy reference values for the Rust tests (float64, dense matrices).

Run from the crate root:  python3 tools/reference_values.py   (needs only numpy)

Data: LIBSVM files in data/ ("label idx:val ...", 1-based indices). d = largest index
in the file; the larger of the two label values maps to +1, the smaller to -1; a row
with a label and no features is an all-zero row.

Objective (regularised logistic regression), with A the n x d data matrix:
    f(w)      = (1/n) sum_i log(1 + exp(-y_i <a_i, w>)) + (mu/2) ||w||^2
    grad f(w) = (1/n) sum_i -y_i sigmoid(-y_i <a_i, w>) a_i + mu w
    Hess f(w) = (1/n) A^T diag(s (1 - s)) A + mu I,   s = sigmoid(-y_i <a_i, w>)
log(1 + exp(-t)) is evaluated as np.logaddexp(0, -t).

Writes into tests/data/:
 (a) alias_mushrooms_option_f.csv  -- 200 steps of ALIAS Sign-SGD, Option F, mushrooms,
     mu = 0, w_0 = 0, S_0 = L_0 = 1, f_tilde = 0, F0 = f(w_0).  For t = 0..199, g_t = grad f(w_t):
       if t >= 1: r_{t-1} = ||g_t - g_{t-1}||_1 / ||w_t - w_{t-1}||_inf  (nothing added if the
                  denominator is exactly 0);  S <- S + r_{t-1}
       gamma_t = sqrt((F0 - f_tilde) / S);   w_{t+1} = w_t - gamma_t sign(g_t)   (sign(0) = 0)
     columns t,gamma,S,r_prev,f,grad_l1 (S after the step-t update, f = f(w_t), grad_l1 = ||g_t||_1).
 (b) logreg_fstar.csv  -- f* = min f at mu = 1e-4 for mushrooms, a9a, w8a, phishing by Newton's
     method (w_0 = 0) with Armijo backtracking, until ||grad||_inf < 1e-12 or no further decrease.
     columns dataset,mu,f_star,grad_inf_norm,iterations,f_zero  (f_zero = f(0) = log 2 up to the
     last-bit rounding of the mean, a sanity check).
 (c) sign_sgd_mushrooms_constant.csv  -- Sign-SGD, gamma = 0.01, mu = 1e-4, w_0 = 0, mushrooms:
     w_{t+1} = w_t - 0.01 sign(grad f(w_t)); columns t,f with f = f(w_t), t = 0..50.
Floats are written with repr() (shortest round-trip representation, exact in float64).
"""
import os
import time
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data")


def load_libsvm(name):
    """Parse a LIBSVM file into a dense (A, y) with y in {-1, +1}."""
    labels, rows = [], []
    with open(os.path.join(ROOT, "data", name)) as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            labels.append(float(parts[0]))
            rows.append([(int(k), float(v)) for k, v in (p.split(":") for p in parts[1:])])
    d = max((r[-1][0] for r in rows if r), default=0)   # indices strictly increasing
    A = np.zeros((len(rows), d))
    for i, r in enumerate(rows):
        for k, v in r:
            A[i, k - 1] = v
    values = sorted(set(labels))
    assert len(values) == 2, (name, values)
    y = np.where(np.array(labels) == values[1], 1.0, -1.0)   # larger label -> +1
    return A, y


def sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))   # 1 / (1 + exp(-x)), overflow-free


def f_val(A, y, w, mu):
    return np.mean(np.logaddexp(0.0, -y * (A @ w))) + 0.5 * mu * (w @ w)


def grad(A, y, w, mu):
    s = sigmoid(-y * (A @ w))
    return A.T @ (-y * s) / len(y) + mu * w


def hess(A, y, w, mu):
    s = sigmoid(-y * (A @ w))
    return (A.T * (s * (1.0 - s))) @ A / len(y) + mu * np.eye(A.shape[1])


def fmt(x):
    return repr(float(x)) if isinstance(x, (float, np.floating)) else str(x)


def write_csv(fname, header, rows):
    with open(os.path.join(OUT, fname), "w") as fh:
        fh.write(header + "\n")
        for r in rows:
            fh.write(",".join(fmt(x) for x in r) + "\n")


def alias_option_f(A, y, steps=200, mu=0.0, L0=1.0, f_tilde=0.0):
    w = np.zeros(A.shape[1])
    F0, S = f_val(A, y, w, mu), L0          # S_0 = L_0
    rows, w_prev, g_prev = [], None, None
    for t in range(steps):
        g = grad(A, y, w, mu)
        r_prev = 0.0                         # r_{-1} does not exist: written as 0 for t = 0
        if t >= 1:
            den = np.max(np.abs(w - w_prev))  # ||w_t - w_{t-1}||_inf from stored iterates
            if den != 0.0:
                r_prev = np.sum(np.abs(g - g_prev)) / den
                S += r_prev
        gamma = np.sqrt((F0 - f_tilde) / S)
        rows.append((t, gamma, S, r_prev, f_val(A, y, w, mu), np.sum(np.abs(g))))
        w_prev, g_prev = w, g
        w = w - gamma * np.sign(g)           # np.sign(0) = 0
    return rows


def newton(A, y, mu, tol=1e-12, max_iter=100):
    w = np.zeros(A.shape[1])
    fw, g = f_val(A, y, w, mu), grad(A, y, w, mu)
    it = 0
    while np.max(np.abs(g)) >= tol and it < max_iter:
        p = -np.linalg.solve(hess(A, y, w, mu), g)
        step, slope = 1.0, g @ p
        # Armijo backtracking; the 4*eps*|f| allowance stops rounding noise in f (once the
        # true decrease is below one ulp) from rejecting full Newton steps near the optimum.
        while step > 1e-10:
            w_new = w + step * p
            f_new = f_val(A, y, w_new, mu)
            if f_new <= fw + 1e-4 * step * slope + 4 * np.finfo(float).eps * abs(fw):
                break
            step *= 0.5
        else:
            break                            # no further decrease possible: stop
        w, fw, g, it = w_new, f_new, grad(A, y, w_new, mu), it + 1
    return fw, np.max(np.abs(g)), it


def sign_sgd_constant(A, y, gamma=0.01, mu=1e-4, steps=50):
    w = np.zeros(A.shape[1])
    rows = []
    for t in range(steps + 1):
        rows.append((t, f_val(A, y, w, mu)))
        w = w - gamma * np.sign(grad(A, y, w, mu))
    return rows


def main():
    t0 = time.time()
    os.makedirs(OUT, exist_ok=True)
    data = {n: load_libsvm(n) for n in ("mushrooms", "a9a", "w8a", "phishing")}
    for n, (A, y) in data.items():
        print(f"{n}: n={A.shape[0]} d={A.shape[1]} n_pos={int((y > 0).sum())}")
    A, y = data["mushrooms"]
    write_csv("alias_mushrooms_option_f.csv", "t,gamma,S,r_prev,f,grad_l1", alias_option_f(A, y))
    rows = []
    for n, (A, y) in data.items():
        mu = 1e-4
        fs, gi, it = newton(A, y, mu)
        rows.append((n, mu, fs, gi, it, f_val(A, y, np.zeros(A.shape[1]), mu)))
        print(f"newton {n}: f*={float(fs)!r} |g|_inf={gi:.3e} iters={it}")
    write_csv("logreg_fstar.csv", "dataset,mu,f_star,grad_inf_norm,iterations,f_zero", rows)
    A, y = data["mushrooms"]
    write_csv("sign_sgd_mushrooms_constant.csv", "t,f", sign_sgd_constant(A, y))
    print(f"wall time: {time.time() - t0:.2f} s")


if __name__ == "__main__":
    main()

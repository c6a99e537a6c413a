"""Slow, obvious NumPy references the vectorised code is checked against."""

import numpy as np


def mean_model_row(row, depth, missing_value=0.0, fill_value=0.0, observed=None):
    """The mean model of eqs 1-3, node by node, straight from the definition."""
    if observed is None:
        observed = ~np.isnan(row) if np.isnan(missing_value) else row != missing_value
    ratings = [float(r) for r, o in zip(row, observed) if o]
    if not ratings:
        return [fill_value] * (2**depth - 1)
    out = []
    level = [(ratings, float(np.mean(ratings)))]
    for _ in range(depth):
        out.extend(value for _, value in level)
        children = []
        for members, value in level:
            low = [r for r in members if r <= value]  # even child
            high = [r for r in members if r > value]  # odd child
            for part in (low, high):
                children.append((part, float(np.mean(part)) if part else value))
        level = children
    return out


def mean_model(rows, depth, observed=None, **kwargs):
    masks = [None] * len(rows) if observed is None else observed
    return np.array(
        [mean_model_row(r, depth, observed=m, **kwargs) for r, m in zip(rows, masks)],
        dtype=np.float64,
    )


def distance_matrix(x, distance):
    x = np.asarray(x, np.float64)
    n = len(x)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if distance == "squared_l2":
                out[i, j] = np.sum((x[i] - x[j]) ** 2)
            elif distance == "l2":
                out[i, j] = np.sqrt(np.sum((x[i] - x[j]) ** 2))
            else:
                ni, nj = np.linalg.norm(x[i]), np.linalg.norm(x[j])
                cos = 0.0 if ni == 0 or nj == 0 else x[i] @ x[j] / (ni * nj)
                out[i, j] = 1.0 - cos
    return out


def all_triplets(labels):
    """Every (a, p, n) with label[a] == label[p], a != p, label[n] != label[a]."""
    n = len(labels)
    return [
        (a, p, q)
        for a in range(n)
        for p in range(n)
        for q in range(n)
        if a != p and labels[a] == labels[p] and labels[q] != labels[a]
    ]

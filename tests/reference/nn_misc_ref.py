"""Float64 NumPy oracles of the element-wise nn ops, from their textbook definitions."""

from __future__ import annotations

import numpy as np


def batch_norm_ref(x, mean, var, weight=None, bias=None, eps=1e-5):
    x = np.asarray(x, np.float64)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    w = np.ones(x.shape[1]) if weight is None else np.asarray(weight, np.float64)
    b = np.zeros(x.shape[1]) if bias is None else np.asarray(bias, np.float64)
    m, v = np.asarray(mean, np.float64), np.asarray(var, np.float64)
    return (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)


def softmax_ref(x, dim):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))

"""Feedforward and backpropagation over a whole mini-batch at once (chapter 2).

This is the plain NumPy reference: the equations of chapter 2 written as matrix
products, with rows as examples (problem 2.5).  For a mini-batch of m
examples, ``A^0 = X`` is (m, n_0) and layer l computes

    Z^l = A^{l-1} W^{lT} + b^{lT}     (m, n_l)      (FF)
    A^l = sigma(Z^l)

where W^l is stored as the book stores it, (n_l, n_{l-1}), and b^l as (n_l, 1).
The numba kernels of the fast path are held equal to these functions by tests.

Deliberately left out: anything about optimisers, regularisation or data order;
this module turns weights and a mini-batch into activations and gradients, and
nothing else.
"""


def feedforward(weights, biases, X, activation, output_activation, dropout_masks=None):
    """Forward pass keeping what backprop needs.

    Returns (zs, activations): zs[l] is Z^{l+1} (m, n_{l+1}); activations[0] is X and
    activations[l] is A^l.  ``dropout_masks[l]`` (one per hidden layer, (m, n_l),
    already divided by 1 - p) multiplies the hidden activations (DROPOUT).
    """
    zs, activations = [], [X]
    a = X
    last = len(weights) - 1
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = a @ w.T + b.T                     # (FF) (m, n_in) @ (n_in, n_out) -> (m, n_out)
        a = output_activation.fn(z) if l == last else activation.fn(z)
        if dropout_masks is not None and l < last:
            a = a * dropout_masks[l]          # (DROPOUT) inverted dropout: E[mask] = 1
        zs.append(z)
        activations.append(a)
    return zs, activations


def backward(weights, zs, activations, Y, cost, activation, output_activation,
             dropout_masks=None):
    """Gradients of the mean cost over the mini-batch, (1/m) sum_x dC_x/d(w, b).

    Returns (nabla_b, nabla_w) shaped like the biases (n, 1) and the weights
    (n_out, n_in).  ``Y`` is one-hot (or fractional) targets, (m, n_L).
    """
    m = Y.shape[0]
    L = len(weights)
    nabla_b = [None] * L
    nabla_w = [None] * L
    # (BP1) delta^L = grad_a C * sigma'(z^L); each cost gives it in closed form.
    delta = cost.delta(zs[-1], activations[-1], Y, output_activation)   # (m, n_L)
    for l in range(L - 1, -1, -1):
        nabla_b[l] = delta.sum(axis=0)[:, None] / m        # (BP3) dC/db = delta -> (n_l, 1)
        nabla_w[l] = (delta.T @ activations[l]) / m        # (BP4) (n_l, m) @ (m, n_{l-1})
        if l > 0:
            # (BP2) delta^{l} = (W^{l+1 T} delta^{l+1}) * sigma'(z^l), in rows:
            sp = activation.prime(zs[l - 1])
            if dropout_masks is not None:
                sp = sp * dropout_masks[l - 1]             # (DROPOUT) a dropped unit passes no error
            delta = (delta @ weights[l]) * sp              # (m, n_{l+1}) @ (n_{l+1}, n_l) -> (m, n_l)
    return nabla_b, nabla_w

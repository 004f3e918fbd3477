"""The conv net's matrix products, compiled, every sum in an order fixed by the shapes.

Two forms cover every product of the chapter-6 layers, each computing a slice of
the result, so that the stages (conv_pool.py, dense.py; network/conv/kernels.py says how
they share the work) can share a product out among their threads:

- ``_nn_columns``: C = A B over a range of columns, the rows of B contiguous,
  C[r, j] = sum_s A[r, s] B[s, j], the terms added one s after another (a
  convolution's weighted inputs from its patches, (CONV-FWD); a fully connected
  layer's nabla_w = delta^T x, (BP4), and its error dC/dx = delta w, (BP2));
- ``_nt_rows``: C = A B^T over a range of B's rows, the rows of both contiguous,
  C[r, c] = A[r] . B[c] (a fully connected layer's z = x w^T, (FF)): a sum along a
  contiguous row, split into one partial sum per vector lane (``vector_sums`` in
  network/base/jit.py), the same split for every (r, c) of a given length.

Which slice a call computes never changes how an element is computed, so however
the threads share a product out, the result is the same bit for bit (tests hold
every split equal, and each product equal to BLAS's to 1e-12 in float64).

Why not BLAS here: at mini-batch 10 the products are small (10 x 2880 by 2880 x 100),
a BLAS call threads them poorly (a second BLAS thread bought almost nothing for whole
epochs: docs/speed.md), and its blocking, hence its order of summation, is its own
choice.  numba's ``np.dot`` would need SciPy.

Deliberately left out: transposed A, strided inputs, products the layers do not make.
"""

import numpy as np

from ..base.jit import jit

LANES = 16   # float32 numbers in a 64-byte vector: the threads' column blocks are multiples

# Column indices as unsigned numbers: numba gives every signed index it cannot prove
# non-negative a test for Python's a[-1], which kept such loops from vectorising (a
# dC/dx loop measured 5.6x slower); an unsigned index has no negative values to test.
U = np.uint64


@jit(fma=True)
def _nn_columns(A, B, C, j0, j1):
    """C[:, j0:j1] = A @ B[:, j0:j1], each element's sum over s in order (t += a x, one s
    after another, in every branch below, so how rows and s are grouped never changes a
    number).  Four rows of A and four s per pass over a row of C: one load and one store
    of C per 16 multiply-adds instead of per one (the loop over j is what vectorises);
    what is left over goes two at a time, then one."""
    R, S = A.shape
    u0 = U(j0)
    r = 0
    while r + 4 <= R:
        for j in range(j1 - j0):
            jj = u0 + U(j)
            C[r, jj] = C[r + 1, jj] = C[r + 2, jj] = C[r + 3, jj] = 0.0
        s = 0
        while s + 4 <= S:
            a00, a01, a02, a03 = A[r, s], A[r, s + 1], A[r, s + 2], A[r, s + 3]
            a10, a11, a12, a13 = A[r + 1, s], A[r + 1, s + 1], A[r + 1, s + 2], A[r + 1, s + 3]
            a20, a21, a22, a23 = A[r + 2, s], A[r + 2, s + 1], A[r + 2, s + 2], A[r + 2, s + 3]
            a30, a31, a32, a33 = A[r + 3, s], A[r + 3, s + 1], A[r + 3, s + 2], A[r + 3, s + 3]
            for j in range(j1 - j0):
                jj = u0 + U(j)
                x0, x1, x2, x3 = B[s, jj], B[s + 1, jj], B[s + 2, jj], B[s + 3, jj]
                t = C[r, jj]
                t += a00 * x0
                t += a01 * x1
                t += a02 * x2
                t += a03 * x3
                C[r, jj] = t
                t = C[r + 1, jj]
                t += a10 * x0
                t += a11 * x1
                t += a12 * x2
                t += a13 * x3
                C[r + 1, jj] = t
                t = C[r + 2, jj]
                t += a20 * x0
                t += a21 * x1
                t += a22 * x2
                t += a23 * x3
                C[r + 2, jj] = t
                t = C[r + 3, jj]
                t += a30 * x0
                t += a31 * x1
                t += a32 * x2
                t += a33 * x3
                C[r + 3, jj] = t
            s += 4
        while s + 2 <= S:   # the last s in pairs (m = 10 images leave two after eight)
            a00, a01, a10, a11 = A[r, s], A[r, s + 1], A[r + 1, s], A[r + 1, s + 1]
            a20, a21, a30, a31 = A[r + 2, s], A[r + 2, s + 1], A[r + 3, s], A[r + 3, s + 1]
            for j in range(j1 - j0):
                jj = u0 + U(j)
                x0, x1 = B[s, jj], B[s + 1, jj]
                t = C[r, jj]
                t += a00 * x0
                t += a01 * x1
                C[r, jj] = t
                t = C[r + 1, jj]
                t += a10 * x0
                t += a11 * x1
                C[r + 1, jj] = t
                t = C[r + 2, jj]
                t += a20 * x0
                t += a21 * x1
                C[r + 2, jj] = t
                t = C[r + 3, jj]
                t += a30 * x0
                t += a31 * x1
                C[r + 3, jj] = t
            s += 2
        while s < S:
            a00, a10, a20, a30 = A[r, s], A[r + 1, s], A[r + 2, s], A[r + 3, s]
            for j in range(j1 - j0):
                jj = u0 + U(j)
                x0 = B[s, jj]
                C[r, jj] += a00 * x0
                C[r + 1, jj] += a10 * x0
                C[r + 2, jj] += a20 * x0
                C[r + 3, jj] += a30 * x0
            s += 1
        r += 4
    while r + 2 <= R:       # the last rows in pairs (m = 10 images leave two after eight)
        for j in range(j1 - j0):
            jj = u0 + U(j)
            C[r, jj] = C[r + 1, jj] = 0.0
        s = 0
        while s + 4 <= S:
            a00, a01, a02, a03 = A[r, s], A[r, s + 1], A[r, s + 2], A[r, s + 3]
            a10, a11, a12, a13 = A[r + 1, s], A[r + 1, s + 1], A[r + 1, s + 2], A[r + 1, s + 3]
            for j in range(j1 - j0):
                jj = u0 + U(j)
                x0, x1, x2, x3 = B[s, jj], B[s + 1, jj], B[s + 2, jj], B[s + 3, jj]
                t = C[r, jj]
                t += a00 * x0
                t += a01 * x1
                t += a02 * x2
                t += a03 * x3
                C[r, jj] = t
                t = C[r + 1, jj]
                t += a10 * x0
                t += a11 * x1
                t += a12 * x2
                t += a13 * x3
                C[r + 1, jj] = t
            s += 4
        while s < S:
            a00, a10 = A[r, s], A[r + 1, s]
            for j in range(j1 - j0):
                jj = u0 + U(j)
                x0 = B[s, jj]
                C[r, jj] += a00 * x0
                C[r + 1, jj] += a10 * x0
            s += 1
        r += 2
    while r < R:            # the last row: the same terms in the same order
        for j in range(j1 - j0):
            C[r, u0 + U(j)] = 0.0
        for s in range(S):
            a00 = A[r, s]
            for j in range(j1 - j0):
                jj = u0 + U(j)
                C[r, jj] += a00 * B[s, jj]
        r += 1


@jit(vector_sums=True)
def _nt_rows(A, B, C, c_start, c_end):
    """C[:, c_start:c_end] = A @ B[c_start:c_end].T, dot products of contiguous rows, two
    rows of A by two rows of B at a time (four sums share each pass over the rows).
    ``c_start`` must be even, so that B's rows pair up the same way for every split."""
    R, S = A.shape
    for r in range(0, R, 2):
        r2 = min(r + 1, R - 1)            # an odd last row pairs with itself
        a0, a1 = A[r], A[r2]
        for c in range(c_start, c_end, 2):
            c2 = min(c + 1, c_end - 1)
            b0, b1 = B[c], B[c2]
            s00 = s01 = s10 = s11 = C.dtype.type(0)
            for s in range(S):
                x0, x1, y0, y1 = a0[s], a1[s], b0[s], b1[s]
                s00 += x0 * y0
                s01 += x0 * y1
                s10 += x1 * y0
                s11 += x1 * y1
            C[r, c] = s00
            C[r, c2] = s01
            C[r2, c] = s10
            C[r2, c2] = s11

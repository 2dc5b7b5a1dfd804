"""Replayable row sources (narrowrelu.learner.sources): in-memory views with their held-out
mask, and an oracle stream regenerated identically at every pass."""

import numpy as np
import pytest

from narrowrelu import Teacher
from narrowrelu.learner.sources.local import ArraySource, OracleSource, fresh_draw


def test_array_source_yields_views_with_their_mask():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((23, 3)), rng.standard_normal(23)
    X.setflags(write=False)
    mask = rng.random(23) < 0.3
    source = ArraySource(X, y, mask, 5)
    assert (source.n_samples, source.n_features, source.n_chunks()) == (23, 3, 5)
    assert source.n_validation == mask.sum() and source.n_train == 23 - mask.sum()
    for _ in range(2):
        blocks = list(source.chunks())
        assert [b[0].shape[0] for b in blocks] == [5, 5, 5, 5, 3]
        assert all(np.shares_memory(b[0], X) and np.shares_memory(b[1], y) for b in blocks)
        assert np.array_equal(np.vstack([b[0] for b in blocks]), X)
        assert np.array_equal(np.concatenate([b[1] for b in blocks]), y)
        assert np.array_equal(np.concatenate([b[2] for b in blocks]), mask)
    assert source.n_passes == 2


def test_array_source_lends_disjoint_row_buffers_and_reuses_their_memory():
    X, y = np.zeros((7, 3)), np.zeros(7)
    source = ArraySource(X, y, np.zeros(7, dtype=bool), 4)
    first = source.row_buffers(2, 2)
    assert [b.shape for b in first] == [(7, 2), (7, 2)]
    assert not np.shares_memory(first[0], first[1])
    assert not any(np.shares_memory(b, X) for b in first)
    first[0][:] = 1.0
    first[1][:] = 2.0
    assert np.all(first[0] == 1.0)
    again = source.row_buffers(1, 2)
    assert [b.shape for b in again] == [(7, 1), (7, 1)]
    assert all(any(np.shares_memory(a, b) for b in first) for a in again)
    wider = source.row_buffers(5, 2)
    assert [b.shape for b in wider] == [(7, 5), (7, 5)] and not np.shares_memory(wider[0], wider[1])


def test_oracle_source_replays_the_same_stream():
    calls = []

    def oracle(X):
        calls.append(X.shape[0])
        return X[:, 0] - 2 * X[:, 1]

    source = OracleSource(oracle, 23, 3, 10, 0.3, np.random.SeedSequence(5))
    assert source.n_chunks() == 3
    assert source.n_validation == 3 + 3 + 1 and source.n_train == 23 - 7
    first, second = list(source.chunks()), list(source.chunks())
    assert source.n_passes == 2 and calls == [10, 10, 3, 10, 10, 3]
    for (X1, y1, h1), (X2, y2, h2) in zip(first, second):
        assert np.array_equal(X1, X2) and np.array_equal(y1, y2) and np.array_equal(h1, h2)
        np.testing.assert_array_equal(y1, X1[:, 0] - 2 * X1[:, 1])
        m = X1.shape[0]
        assert np.array_equal(h1, np.arange(m) < round(0.3 * m))
    assert not np.array_equal(first[0][0], first[1][0][: first[0][0].shape[0]])  # chunks differ
    assert sum(int(h.sum()) for _, _, h in first) == source.n_validation


def test_oracle_source_rejects_bad_output():
    source = OracleSource(lambda X: np.zeros(X.shape[0] + 1), 10, 2, 10, 0.2, np.random.SeedSequence(0))
    with pytest.raises(ValueError, match="returned shape"):
        list(source.chunks())


def test_oracle_source_with_a_teacher_replays_the_same_stream():
    teacher = Teacher.random(n_features=3, n_neurons=1, random_state=0)
    source = OracleSource(teacher, 1000, 3, 300, 0.2, np.random.SeedSequence(4))
    first = [c for c in source.chunks()]
    second = [c for c in source.chunks()]
    assert sum(block[0].shape[0] for block in first) == 1000
    assert sum(int(block[2].sum()) for block in first) == source.n_validation == 200
    for one, two in zip(first, second):
        assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_fresh_draw_labels_its_inputs_chunk_by_chunk():
    calls = []

    def oracle(X):
        calls.append(X.shape[0])
        return 2.0 * X[:, 1]

    source = fresh_draw(oracle, 25, 3, 10, np.random.SeedSequence(8))
    X, y = source.rows_in_memory()
    assert calls == [10, 10, 5] and source.n_validation == 0
    np.testing.assert_array_equal(y, 2.0 * X[:, 1])
    np.testing.assert_array_equal(X, np.random.default_rng(np.random.SeedSequence(8)).standard_normal((25, 3)))


def test_a_fold_of_the_first_rows_stops_drawing_an_oracle_once_full():
    from narrowrelu import ReLUNetwork
    from narrowrelu.learner.refine.surplus import residual_structure
    from narrowrelu.learner.residual_diagnostic import residual_diagnostic
    from narrowrelu.learner.sources.training_rows import training_rows

    calls = []

    def oracle(X):
        calls.append(X.shape[0])
        return np.maximum(X[:, 0], 0) - X[:, 1]

    source = OracleSource(oracle, 1000, 3, 100, 0.2, np.random.SeedSequence(5))
    net = ReLUNetwork(np.eye(3)[:1], [1.0])
    # 20 held-out rows a chunk: 50 of them are in the first three chunks
    assert residual_diagnostic(source, net, max_rows=50)["n_rows"] == 50 and len(calls) == 3
    calls.clear()
    X, y = training_rows(source, 170)  # 80 training rows a chunk
    assert X.shape == (170, 3) and len(calls) == 3
    calls.clear()
    assert residual_structure(net, source, max_rows=250).n_rows == 250 and len(calls) == 3
    calls.clear()
    residual_diagnostic(source, net)  # every held-out row: the whole stream
    assert len(calls) == 10 and source.n_passes == 4

"""The estimator on a ``distributed.LocalCluster`` (two single-threaded worker processes): a fit
on a dask array equals the NumPy fit of the same rows (within 1e-10) and the same fit on dask's
synchronous scheduler (bit for bit); ``fit_oracle(backend="dask")`` is reproducible and recovers
its teacher; a worker retired during a fit does not change it; without dask, a clear error names
the extra."""

import contextlib
import sys
import threading
import time

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, Teacher, population_mse
from narrowrelu.learner.sources import held_out as split
from narrowrelu.learner.dask.sources import DaskSource
from narrowrelu.learner.dask.fit import EXTRA
from narrowrelu.learner.estimator import BACKENDS

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

N, D, K, ROWS = 24_000, 8, 3, 3700
ORACLE = dict(n_samples=40_000, n_features=6)
# rows per split block in the array fits: 24 split blocks, cut by the chunks of ROWS rows
SPLIT_BLOCK = 1000


def teacher():
    return Teacher.random(n_features=D, n_neurons=K, random_state=0)


def noisy_data():
    X, y = teacher().sample(N, random_state=1)
    return X, y + 0.05 * np.random.default_rng(2).standard_normal(N)


def oracle_model(**kwargs):
    return MomentReLURegressor(n_neurons=2, random_state=4, chunk_size=5000, **kwargs)


@pytest.fixture(scope="module")
def synchronous_fits():
    """The reference fit of ``fit_oracle``, on dask's synchronous scheduler in this process."""
    with dask.config.set(scheduler="sync"):
        return oracle_model().fit_oracle(Teacher.random(6, 2, random_state=3), backend="dask", **ORACLE)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def set_split_block(size):
    """Set ``SPLIT_BLOCK`` in this process (run on the workers by ``client.run``); the old value."""
    old, split.SPLIT_BLOCK = split.SPLIT_BLOCK, size
    return old


@pytest.fixture
def small_split_blocks(client, monkeypatch):
    """``SPLIT_BLOCK`` made small here and in the worker processes (the tasks rebuild their rows'
    part of the split there)."""
    monkeypatch.setattr(split, "SPLIT_BLOCK", SPLIT_BLOCK)
    old = client.run(set_split_block, SPLIT_BLOCK)
    assert len(old) == 2 and set(old.values()) == {65_536}
    yield
    client.run(set_split_block, 65_536)


@pytest.mark.cluster
@pytest.mark.parametrize("whiten, x_factor", [(False, 1.0), (True, 3.0)])
def test_fit_on_a_cluster_equals_the_numpy_fit(client, small_split_blocks, whiten, x_factor):
    X, y = noisy_data()
    X = X * x_factor  # 3: the standardisation rescales X (x_scale != 1)
    local = [da.from_array(X, chunks=(ROWS, D)), da.from_array(y, chunks=ROWS)]
    Xd, yd = client.persist(local)
    settings = {"n_neurons": K, "random_state": 0, "whiten": whiten}
    model = MomentReLURegressor(**settings).fit(Xd, yd)
    # bit-identical to the same fit on dask's synchronous scheduler (the arrays not persisted: the
    # cluster holds those): the reduction tree is fixed
    with dask.config.set(scheduler="sync"):
        assert dask.base.get_scheduler() is dask.local.get_sync
        synchronous = MomentReLURegressor(**settings).fit(*local)
    assert np.array_equal(model.network_.to_vector(), synchronous.network_.to_vector())
    # and equal to the NumPy fit of the same rows, which draws the same held-out split: within
    # 1e-10 relative (observed ~1e-14), not bit for bit, as the sums add the same numbers in
    # another order (per chunk, merged in a tree)
    reference = MomentReLURegressor(**settings).fit(X, y)
    assert model.n_passes_ == reference.n_passes_
    assert model.scaling_["x_scale"] == pytest.approx(reference.scaling_["x_scale"], rel=1e-12)
    assert (reference.scaling_["x_scale"] != 1.0) == (x_factor != 1.0)
    expected = reference.predict(X)
    assert np.abs(model.predict(X) - expected).max() <= 1e-10 * np.abs(expected).max()
    prediction = model.predict(Xd)
    assert isinstance(prediction, da.Array)
    np.testing.assert_array_equal(prediction.compute(), model.predict(X))
    if x_factor == 1.0:
        assert population_mse(model, teacher()) < 1e-4


@pytest.mark.cluster
def test_fit_oracle_on_a_cluster_is_reproducible_and_recovers_the_teacher(client, synchronous_fits):
    oracle = Teacher.random(6, 2, random_state=3)
    first = oracle_model().fit_oracle(oracle, backend="dask", **ORACLE)
    second = oracle_model().fit_oracle(oracle, backend="dask", **ORACLE)
    assert np.array_equal(first.network_.to_vector(), second.network_.to_vector())
    assert np.array_equal(first.network_.to_vector(), synchronous_fits.network_.to_vector())
    assert population_mse(first, oracle) < 1e-10


class SlowTeacher:
    """A teacher that takes a while to answer, so that a pass lasts long enough to lose a worker in it."""

    def __init__(self, teacher, seconds):
        self.teacher, self.seconds = teacher, seconds
        self.n_features = teacher.n_features

    def __call__(self, X):
        time.sleep(self.seconds)
        return self.teacher(X)


def lose_a_worker_in_the_third_pass(client, passes, how, lost, done):
    """Once the third pass has an oracle block running on a worker, retire that worker
    (gracefully: its stored data move) or restart it (abruptly: its data and running block are
    lost and recomputed elsewhere)."""
    while not lost and not done.is_set():
        if len(passes) >= 3:
            busy = [w for w, keys in client.processing().items() if any("oracle_block" in str(k) for k in keys)]
            if busy:
                if how == "retire":
                    client.retire_workers(workers=busy[:1])
                else:
                    client.restart_workers(workers=busy[:1])
                lost.append(busy[0])
                return
        time.sleep(0.002)


@pytest.mark.cluster
@pytest.mark.parametrize("how", ["retire", "restart"])
def test_a_worker_lost_during_a_fit_does_not_change_it(monkeypatch, client, synchronous_fits, how):
    passes = []
    original = DaskSource.fold

    def counted(self, *args, **kwargs):
        passes.append(None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DaskSource, "fold", counted)
    oracle = SlowTeacher(Teacher.random(6, 2, random_state=3), 0.01)
    with contextlib.ExitStack() as stack:
        if how == "retire":  # a cluster of its own, which ends with one worker
            cluster = stack.enter_context(distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                                                   dashboard_address=None))
            client = stack.enter_context(distributed.Client(cluster))
        lost, done = [], threading.Event()
        thread = threading.Thread(target=lose_a_worker_in_the_third_pass, args=(client, passes, how, lost, done),
                                  daemon=True)
        thread.start()
        try:
            model = oracle_model().fit_oracle(oracle, backend="dask", **ORACLE)
        finally:
            done.set()
            thread.join(timeout=60)
        assert lost, "no worker was lost during the fit"
        assert len(client.scheduler_info()["workers"]) == (1 if how == "retire" else 2)
    assert np.array_equal(model.network_.to_vector(), synchronous_fits.network_.to_vector())


def test_without_dask_the_error_names_the_extra(monkeypatch):
    X, y = noisy_data()
    Xd, yd = da.from_array(X, chunks=(ROWS, D)), da.from_array(y, chunks=ROWS)
    for name in ("dask", "dask.array"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"narrowrelu\[dask\]") as info:
        MomentReLURegressor(n_neurons=2).fit_oracle(teacher(), 10_000, backend="dask")
    assert EXTRA in str(info.value)
    with pytest.raises(ImportError, match=r"pip install 'narrowrelu\[dask\]'"):
        MomentReLURegressor(n_neurons=2).fit(Xd, yd)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        MomentReLURegressor(n_neurons=2).fit_oracle(teacher(), 10_000, backend="ray")
    assert BACKENDS == ("local", "dask")


@pytest.mark.parametrize("n_neurons", [2, pytest.param(None, marks=pytest.mark.slow)])
def test_biased_fit_of_a_dask_array_equals_the_numpy_fit(n_neurons):
    """hidden_biases=True on a dask array (synchronous scheduler): the same held-out split, the
    biased stage's passes as folds, the refinement on the rows brought into memory; the model
    equals the NumPy fit to 1e-8 relative (sums in another order) and recovers the teacher."""
    biased = Teacher.random(6, 2, bias_scale=1.0, random_state=5)
    X, y = biased.sample(12_000, random_state=6)
    settings = {"n_neurons": n_neurons, "random_state": 0, "hidden_biases": True}
    reference = MomentReLURegressor(**settings).fit(X, y)
    with dask.config.set(scheduler="sync"):
        model = MomentReLURegressor(**settings).fit(da.from_array(X, chunks=(2500, 6)), da.from_array(y, chunks=2500))
    assert model.n_neurons_ == reference.n_neurons_ == 2
    assert model.network_.has_biases
    expected = reference.predict(X)
    assert np.abs(model.predict(X) - expected).max() <= 1e-8 * np.abs(expected).max()
    assert population_mse(model, biased) < 1e-10 * np.var(y)

"""The record writer against plain assignment: blocks, arrays, snapshots, order and errors."""

import time

import numpy as np
import pytest
import torch

from circle_survival.training.record_writer import RecordWriter


class SlowSink(dict):
    """A dict of numpy arrays whose writes take a while (as a store's do)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.snapshots = {}
        self.log = []

    def __getitem__(self, name):
        time.sleep(0.01)
        self.log.append(name)
        return super().__getitem__(name)

    def write_snapshot(self, step, tensors):
        self.snapshots[step] = tensors


def test_blocks_land_model_axis_first_while_the_device_buffer_is_refilled():
    """Each block is copied out before the loop refills the device buffer: three blocks
    written through two host buffers equal plain assignment, rows in order."""
    m, k, block = 3, 4, 5
    rows = torch.arange(3 * block * m * k, dtype=torch.float64).view(3 * block, m, k)
    expected = rows.transpose(0, 1).numpy()
    sink = SlowSink(signals=np.zeros((m, 3 * block, k)))
    writer = RecordWriter(sink, "cpu")
    device_buf = torch.empty(block, m, k, dtype=torch.float64)
    host = writer.double_buffer(device_buf)
    assert len(host) == 2 and host[0].shape == device_buf.shape
    for b in range(3):
        device_buf.copy_(rows[b * block:(b + 1) * block])
        writer.write_block("signals", host, device_buf, block, b * block)
        device_buf.fill_(-1.0)  # the loop goes on at once
    writer.close()
    np.testing.assert_array_equal(dict.__getitem__(sink, "signals"), expected)


def test_a_partial_block_writes_only_its_rows():
    sink = {"metrics": np.zeros((2, 10, 4))}
    writer = RecordWriter(sink, "cpu")
    device_buf = torch.ones(8, 2, 4, dtype=torch.float64)
    writer.write_block("metrics", writer.double_buffer(device_buf), device_buf, 3, 6)
    writer.close()
    assert (sink["metrics"][:, 6:9] == 1).all() and (sink["metrics"][:, :6] == 0).all()
    assert (sink["metrics"][:, 9:] == 0).all()


def test_arrays_are_copied_when_handed_over():
    sink = SlowSink(embeddings=np.zeros((2, 3, 4)))
    writer = RecordWriter(sink, "cpu")
    emb = torch.full((2, 4), 7.0, dtype=torch.float64)
    for i in range(3):
        writer.write_array("embeddings", (slice(None), i), emb)
        emb += 1.0  # a training step changes it right after
    writer.close()
    np.testing.assert_array_equal(dict.__getitem__(sink, "embeddings")[:, :, 0],
                                  [[7.0, 8.0, 9.0], [7.0, 8.0, 9.0]])


def test_snapshots_are_in_module_layout():
    """Weights (M, in, out) in the trainer become nn.Module's (M, out, in); others as they are."""
    sink = SlowSink()
    writer = RecordWriter(sink, "cpu")
    w = torch.arange(12, dtype=torch.float64).view(1, 3, 4)
    b = torch.arange(4, dtype=torch.float64).view(1, 4)
    writer.write_snapshot(5, ["layers.0.weight", "layers.0.bias"], [w, b])
    writer.close()
    snap = sink.snapshots[5]
    np.testing.assert_array_equal(snap["layers.0.weight"], w.transpose(1, 2).numpy())
    np.testing.assert_array_equal(snap["layers.0.bias"], b.numpy())
    assert snap["layers.0.weight"].flags.c_contiguous


def test_checkpoint_runs_after_every_earlier_write():
    sink = SlowSink(a=np.zeros(3))
    writer = RecordWriter(sink, "cpu")
    seen = []
    for i in range(3):
        writer.write_array("a", (i,), torch.tensor(float(i + 1)))
    writer.checkpoint(lambda state: seen.append((dict.__getitem__(sink, "a").copy(),
                                                  state["x"].copy())),
                      {"x": torch.tensor([1.0, 2.0])})
    writer.close()
    np.testing.assert_array_equal(seen[0][0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(seen[0][1], [1.0, 2.0])


def test_the_first_error_stops_later_writes_and_is_raised():
    class Failing(dict):
        def __getitem__(self, name):
            if name == "bad":
                raise OSError("disk full")
            return super().__getitem__(name)

    sink = Failing(bad=np.zeros(2), good=np.zeros(2))
    writer = RecordWriter(sink, "cpu")
    writer.write_array("bad", (0,), torch.tensor(1.0))
    time.sleep(0.2)  # the failed write is done
    with pytest.raises(OSError, match="disk full"):  # raised at the next hand-over
        writer.write_array("good", (0,), torch.tensor(1.0))
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert (sink["good"] == 0).all()

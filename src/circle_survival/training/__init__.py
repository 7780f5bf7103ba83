"""Training: M seeded models advanced together, one optimiser step at a time.

- :mod:`.task`           the table of (a + b) mod p and each run's split;
- :mod:`.initial_state`  embedding, MLP and split from three seeds (and interventions);
- :mod:`.ensemble`       the batched model: forward and backward written out by hand;
- :mod:`.record_plan`    which steps record what, the arrays' shapes, recording presets;
- :mod:`.record_writer`  records copied from the device into a sink on one thread;
- :mod:`.chunk_threads`  chunks of a CPU step on one thread per core;
- :mod:`.cpu_memory`     glibc's allocator kept from handing activations back each step;
- :mod:`.flat_params`    M models' parameters in one aligned storage, and host copies;
- :mod:`.trainer`        :class:`Trainer` and :func:`train`, the step loop;
- :mod:`.capacity`       how many models fit in a device's memory;
- :mod:`.functional`     the generic path: any small ``nn.Module`` (:mod:`.modules`: the MLP,
                         :mod:`.transformer`) over M models through torch.func, AdamW or
                         :mod:`.sgd`; :func:`~.functional.make_trainer` picks a trainer.

Nothing here touches a store: the trainer writes into any sink (a dict of arrays, or
:class:`circle_survival.store.BatchWriter`).
"""

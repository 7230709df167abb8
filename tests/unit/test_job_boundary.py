"""The job boundary frees what a finished job held: its memory caught in reference cycles and Dynamo's caches, so
the next job of a sequential sweep compiles afresh instead of silently running eager (issue 23)."""

from __future__ import annotations

import weakref

import torch

from colorization.distributed import job_boundary


def test_a_jobs_tensors_in_reference_cycles_are_freed_at_the_boundary():
    with job_boundary():
        held = {"images": torch.zeros(1000, 3, 8, 8, dtype=torch.uint8)}
        held["self"] = held  # as trainer <-> module <-> datamodule refer to each other
        gone = weakref.ref(held["images"])
        del held
        assert gone() is not None  # only a collection frees a cycle
    assert gone() is None


def test_each_job_compiles_afresh():
    compiled = []

    def counting_backend(gm, example_inputs):
        compiled.append(len(example_inputs))
        return gm.forward

    def forward(x):  # one code object shared by every job, as a model class's forward is
        return torch.relu(x) * 2

    for _ in range(3):
        with job_boundary():
            fn = torch.compile(forward, backend=counting_backend)
            assert torch.equal(fn(torch.ones(2)), torch.full((2,), 2.0))
    assert len(compiled) == 3  # without the reset, jobs 2 and 3 reuse job 1's cache entry

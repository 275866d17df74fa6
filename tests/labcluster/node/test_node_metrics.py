"""Node capacity from this machine, loopback allocation, and quantities."""

from __future__ import annotations

import os
import socket

import psutil
import pytest

from labcluster.node.loopback import IPAllocator, LoopbackNotUsable, check_bindable
from labcluster.node.metrics import (
    allocatable,
    capacity,
    container_metrics,
    cpu_quantity,
    memory_quantity,
)


def test_capacity_is_this_machine():
    cap = capacity()
    assert cap.cpu_millicores == len(os.sched_getaffinity(0)) * 1000
    assert cap.memory_bytes == psutil.virtual_memory().total
    assert allocatable().memory_bytes < cap.memory_bytes
    assert cap.as_quantities()["cpu"] == str(len(os.sched_getaffinity(0)))
    assert cpu_quantity(250) == "250000000n" and memory_quantity(2048) == "2Ki"
    assert container_metrics("backend", 5, 3 * 2**20) == {
        "name": "backend", "usage": {"cpu": "5000000n", "memory": "3072Ki"}}


def test_allocator_skips_reserved_and_recycles_late():
    alloc = IPAllocator("127.77.0.0/30")  # .0 .1 .2 .3: only .2 and .3 are usable
    first, second = alloc.allocate(), alloc.allocate()
    assert {first, second} == {"127.77.0.2", "127.77.0.3"}
    with pytest.raises(RuntimeError):
        alloc.allocate()
    alloc.release(first)
    assert alloc.allocate() == first
    with pytest.raises(ValueError):
        IPAllocator("10.0.0.0/24")


def test_every_allocated_address_is_bindable_and_distinct():
    alloc = IPAllocator("127.78.0.0/24")
    addresses = [alloc.allocate() for _ in range(5)]
    assert len(set(addresses)) == 5 and "127.0.0.1" not in addresses
    sockets = []
    try:
        for address in addresses:
            check_bindable(address)
            sock = socket.socket()
            sock.bind((address, 0))
            sockets.append(sock)
    finally:
        for sock in sockets:
            sock.close()
    with pytest.raises(LoopbackNotUsable):
        check_bindable("192.0.2.1")  # TEST-NET: not local

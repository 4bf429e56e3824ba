#!/usr/bin/env python3
"""Prints a TCP port on 127.0.0.1 that is free now, for a server a test configures before it
starts (`free_port.py`, or `from free_port import free_port`).

Picked at random below Linux's ephemeral range (32768 and up) and below the port runs of the
tests' Kafka clusters (20000 and up). The kernel hands out ephemeral ports to every outgoing
connection and to every bind to port 0 of the programs of the tests that run beside this one,
so a port it gave out once may be taken again before the server binds it; a port down here is
taken only by another such pick. A server that can bind port 0 itself and say which port it got
(incidentd's API with `port = 0`) needs neither."""

import random
import socket


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port():
    while True:
        port = random.randrange(10000, 20000)
        if port_is_free(port):
            return port


if __name__ == "__main__":
    print(free_port())

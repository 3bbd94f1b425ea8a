"""Run one command and append its clock to a file: ``python -I -S stage_clock.py RECORD COMMAND...``.

The scaling runs put this in front of every stage command of ``make all`` (make's ``STAGE`` variable,
given on the command line: ``STAGE="python -I -S stage_clock.py RECORD $(PY) -m pipeline"``), so each
stage gets its own wall time, CPU time and peak RSS while make runs the stages side by side as it does for
a user. It appends one JSON line per command to RECORD: the command, when it started and ended (seconds
since the epoch), its wall time, the user and system CPU seconds and peak RSS (MiB) of the command and
every descendant it waited for (``os.wait4``), and its exit status. A stage that the stage server runs
shows only its client's small cost here; the server logs the stage's own (benchmarks/measure.py joins
them).

Standard library only, and only ``os``, ``sys``, ``time`` and ``json``: run with ``-I -S`` it starts in
about 10 ms. The command's environment, working folder and standard streams are make's, untouched, and
its exit status (or the signal that killed it) is this process's, so make sees what it sees without it.
"""

import json
import os
import signal
import sys
import time


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: stage_clock.py RECORD COMMAND [ARGUMENT...]")
    record, command = sys.argv[1], sys.argv[2:]
    started_at = time.time()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    # As time(1) does: a terminal's interrupt reaches the command (same process group); this process waits
    # for it and then passes its status on.
    for number in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, signal.SIG_IGN)
    _pid, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    line = {
        "command": command,
        "started_at": started_at,
        "ended_at": started_at + seconds,
        "seconds": seconds,
        "user_seconds": usage.ru_utime,
        "system_seconds": usage.ru_stime,
        "max_rss_mib": usage.ru_maxrss / 1024,
        "exit": code,
        "pid": pid,
    }
    # One write of one line on a file opened for appending: lines of stages ending together do not mix.
    descriptor = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (json.dumps(line) + "\n").encode())
    finally:
        os.close(descriptor)
    if code < 0:  # killed by a signal: so is this process, as make would have seen the command
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()

"""Time to read one attached file through the child process (`bot.files.FileReader.extract`): medians of N runs
per kind, documents made here (python -m bench.bench_files [N]). Most of it is the child's start and imports."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from bot.files import FileReader
from tests.files.documents import docx, pdf, xlsx


async def main(runs: int) -> None:
    reader = FileReader()
    documents = {"pdf": pdf(*[["Contract with Jan Kowalski, clause text."] * 40] * 10),
                 "docx": docx(*["Paragraph about the offer."] * 200),
                 "xlsx": xlsx([[i, i * 2, "x"] for i in range(500)]),
                 "text": b"notes\n" * 2000}
    for kind, data in documents.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            outcome = await reader.extract(kind, data)
            times.append(time.perf_counter() - started)
            assert not isinstance(outcome, str), outcome
        print(f"{kind:5} {len(data):>7} bytes  median {statistics.median(times):.2f} s  (n={runs})")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))

"""`/healthz` (the process answers) and `/readyz` (the app is loaded; the database's state, the spool).

/readyz stays 200 while the database is down: the webhook still answers and spools the records, so a
load balancer should keep sending traffic. Its body says what is degraded, for monitoring.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.records.recorder import Recorder

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    recorder: Recorder | None = getattr(request.app.state, "recorder", None)
    if recorder is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    reachable = await run_in_threadpool(recorder.reachable)
    return JSONResponse(
        {
            "status": "ready",
            "database": "ok" if reachable else "unreachable",
            "spooled_files": len(recorder.spool.files()),
        }
    )

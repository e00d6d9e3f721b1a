"""REST API of sharing (Art. 12). The routes carry their full ``/api/v1/…`` paths."""

from __future__ import annotations

from fastapi import APIRouter

from gongshu.sharing import delivery_api

router = APIRouter(tags=["sharing"])
router.include_router(delivery_api.router)

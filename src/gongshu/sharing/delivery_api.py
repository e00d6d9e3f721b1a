"""Grant data delivery routes (written by the delivery work).

``sharing.api`` includes this ``router`` as it is: write full paths
(``/api/v1/grants/{grant_id}/data``), e.g. ``APIRouter(prefix="/api/v1/grants")``."""

from fastapi import APIRouter

router = APIRouter()

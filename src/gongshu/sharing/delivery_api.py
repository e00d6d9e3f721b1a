"""Grant data delivery routes (written by the delivery work)."""

from fastapi import APIRouter

router = APIRouter()

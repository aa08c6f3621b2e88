from fastapi import APIRouter

from orderly.api.v1.endpoints import auth, items, orders, reports, users

router = APIRouter(prefix="/api/v1")
router.include_router(auth.router)
router.include_router(users.router)
router.include_router(items.router)
router.include_router(orders.router)
router.include_router(reports.router)

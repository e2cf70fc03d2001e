"""The app's URLs plus `bench/insert/`: the smallest Django view that writes one row.

The HTTP benchmark (bench/case_submit.py) measures case submits next to this view, served by
the same gunicorn with the same middleware, so the ratio shows what the submit itself costs.
Its table is made by the benchmark with raw SQL; it is no part of the app.
"""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gdsi.urls import urlpatterns as app_urlpatterns

BENCH_TABLE = "bench_insert"


@csrf_exempt
@require_POST
def insert_one(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BENCH_TABLE} (body) VALUES (%s) RETURNING id",
            [request.body.decode("utf-8", "replace")],
        )
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


urlpatterns = [path("bench/insert/", insert_one), *app_urlpatterns]

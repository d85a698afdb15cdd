"""The read-only ClickHouse HTTP interface over chdb (services.clickhouse.query_api).

Real engine, real HTTP: the app is served by aiohttp's test server and queried with
aiohttp's client and with clickhouse-connect's own HTTP client. chdb opens one data path
per process, so this module uses the session's shared path (`<basetemp>/chdb-shared`, the
one tests/conftest.py uses) and a random database of its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from aiohttp import ClientResponse, test_utils
from clickhouse_connect.driver.exceptions import DatabaseError

from hopstream.settings import Settings
from services.clickhouse.client import make_client
from services.clickhouse.query_api import create_query_app

pytestmark = pytest.mark.clickhouse

ROWS = [
    (1, "alpha", "tab\there\nnew line", Decimal("12.34"), datetime(2024, 1, 2, 3, 4, 5, 678000)),
    (2, "beta", "plain", Decimal("0.50"), datetime(2024, 1, 2, 0, 0, 0)),
    (3, "gamma", "it's a back\\slash", Decimal("100"), datetime(2024, 2, 29, 23, 59, 59, 999000)),
]  # fmt: skip
# What ClickHouse's TabSeparated makes of ROWS: \t, \n, ' and \ escaped; Decimal trimmed.
ROWS_TSV = (
    "1\talpha\ttab\\there\\nnew line\t12.34\t2024-01-02 03:04:05.678\n"
    "2\tbeta\tplain\t0.5\t2024-01-02 00:00:00.000\n"
    "3\tgamma\tit\\'s a back\\\\slash\t100\t2024-02-29 23:59:59.999\n"
)
ERROR_BODY = re.compile(r"\ACode: (\d+)\. DB::Exception: .+\n\Z", re.DOTALL)


@pytest.fixture(scope="module")
def query_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # The session-wide engine path (chdb allows one per process): the same directory the
    # shared conftest opens, so this module can run alongside the other ClickHouse tests.
    settings = Settings.from_env(
        {"HOPSTREAM_DATA_DIR": str(tmp_path_factory.getbasetemp() / "chdb-shared")}
    )
    client = make_client(settings)
    yield client
    client.close()


@pytest.fixture(scope="module")
def db(query_client: Any) -> Iterator[str]:
    name = f"qa_{uuid.uuid4().hex[:10]}"
    query_client.command(f"CREATE DATABASE {name}")
    query_client.command(
        f"CREATE TABLE {name}.clicks (id UInt32, offer String, note String, "
        "amount Decimal(12, 2), at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id"
    )
    rows = [(*row[:4], row[4].replace(tzinfo=UTC)) for row in ROWS]
    query_client.insert(
        f"{name}.clicks", rows, column_names=["id", "offer", "note", "amount", "at"]
    )
    yield name
    query_client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
async def api(query_client: Any) -> AsyncIterator[test_utils.TestClient[Any, Any]]:
    app = create_query_app(query_client, max_result_rows=1000)
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        yield client


def row_count(query_client: Any, db: str) -> int:
    return int(query_client.query(f"SELECT count() FROM {db}.clicks").result_rows[0][0])


async def assert_clickhouse_error(response: ClientResponse, status: int, code: int) -> str:
    """A ClickHouse-style error: plain text `Code: N. DB::Exception: ...`, code header."""
    body = await response.text()
    assert response.status == status, body
    assert response.content_type == "text/plain"
    assert "<html" not in body.lower()
    match = ERROR_BODY.match(body)
    assert match is not None, body
    assert response.headers["X-ClickHouse-Exception-Code"] == match.group(1) == str(code), body
    return body


# --- health --------------------------------------------------------------------------------


async def test_ping_and_bare_get_answer_ok(api: test_utils.TestClient[Any, Any]) -> None:
    for path in ("/ping", "/"):
        response = await api.get(path)
        assert response.status == 200
        assert await response.text() == "Ok.\n"


# --- reading -------------------------------------------------------------------------------


async def test_get_query_answers_tab_separated(
    api: test_utils.TestClient[Any, Any], db: str
) -> None:
    response = await api.get("/", params={"query": f"SELECT * FROM {db}.clicks ORDER BY id"})
    assert response.status == 200
    assert await response.text() == ROWS_TSV
    assert response.headers["Content-Type"] == "text/tab-separated-values; charset=UTF-8"
    assert response.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert "X-ClickHouse-Exception-Code" not in response.headers


async def test_post_body_and_query_parameter_are_joined(
    api: test_utils.TestClient[Any, Any], db: str
) -> None:
    response = await api.post("/", data=f"SELECT * FROM {db}.clicks ORDER BY id")
    assert await response.text() == ROWS_TSV
    # ClickHouse runs `query` + "\n" + body.
    response = await api.post(
        "/", params={"query": f"SELECT offer FROM {db}.clicks"}, data="WHERE id = 2"
    )
    assert response.status == 200
    assert await response.text() == "beta\n"


async def test_format_json(api: test_utils.TestClient[Any, Any], db: str) -> None:
    response = await api.get(
        "/", params={"query": f"SELECT * FROM {db}.clicks ORDER BY id FORMAT JSON"}
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.headers["X-ClickHouse-Format"] == "JSON"
    doc = json.loads(await response.text())
    assert [column["type"] for column in doc["meta"]] == [
        "UInt32", "String", "String", "Decimal(12, 2)", "DateTime64(3, 'UTC')",
    ]  # fmt: skip
    assert doc["rows"] == 3
    assert [row["note"] for row in doc["data"]] == [row[2] for row in ROWS]
    assert [Decimal(str(row["amount"])) for row in doc["data"]] == [row[3] for row in ROWS]
    assert doc["data"][0]["at"] == "2024-01-02 03:04:05.678"


async def test_format_json_each_row_with_trailing_semicolon(
    api: test_utils.TestClient[Any, Any], db: str
) -> None:
    response = await api.post(
        "/", data=f"SELECT id, note FROM {db}.clicks ORDER BY id format JSONEachRow ;\n"
    )
    assert response.status == 200
    assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
    rows = [json.loads(line) for line in (await response.text()).splitlines()]
    assert rows == [{"id": row[0], "note": row[2]} for row in ROWS]


async def test_format_clause_is_found_by_the_engine_parser(
    api: test_utils.TestClient[Any, Any],
) -> None:
    # A comment after FORMAT, or SETTINGS after it, still leaves JSONCompact the format.
    for sql in (
        "SELECT 1 AS format FORMAT JSONCompact -- trailing comment",
        "SELECT 1 AS format FORMAT JSONCompact SETTINGS max_threads = 0",
    ):
        response = await api.post("/", params={"default_format": "CSV"}, data=sql)
        assert response.status == 200, await response.text()
        assert response.headers["X-ClickHouse-Format"] == "JSONCompact"
        assert json.loads(await response.text())["data"] == [[1]]


async def test_format_csv_with_names(api: test_utils.TestClient[Any, Any], db: str) -> None:
    sql = f"SELECT id, note, amount FROM {db}.clicks ORDER BY id FORMAT CSVWithNames"
    response = await api.get("/", params={"query": sql})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=UTF-8; header=present"
    records = list(csv.reader(io.StringIO(await response.text())))
    assert records[0] == ["id", "note", "amount"]
    assert [(int(r[0]), r[1], Decimal(r[2])) for r in records[1:]] == [
        (row[0], row[2], row[3]) for row in ROWS
    ]


async def test_default_format_parameter(api: test_utils.TestClient[Any, Any], db: str) -> None:
    response = await api.post(
        "/",
        params={"default_format": "JSONEachRow"},
        data=f"SELECT id FROM {db}.clicks ORDER BY id;",
    )
    assert response.status == 200
    assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert [json.loads(line) for line in (await response.text()).splitlines()] == [
        {"id": 1}, {"id": 2}, {"id": 3},
    ]  # fmt: skip
    # The query's own FORMAT wins over default_format, as in ClickHouse.
    response = await api.post(
        "/",
        params={"default_format": "JSONEachRow"},
        data=f"SELECT id FROM {db}.clicks ORDER BY id FORMAT CSV",
    )
    assert response.headers["X-ClickHouse-Format"] == "CSV"
    assert await response.text() == "1\n2\n3\n"


async def test_database_parameter_selects_the_database(
    api: test_utils.TestClient[Any, Any], db: str
) -> None:
    response = await api.get("/", params={"query": "SELECT count() FROM clicks", "database": db})
    assert await response.text() == "3\n"
    # Nothing a request does to its session carries over: USE is per request.
    await api.get("/", params={"query": f"USE {db}"})
    response = await api.get("/", params={"query": "SELECT currentDatabase()"})
    assert await response.text() == "default\n"
    response = await api.get("/", params={"query": "SELECT 1", "database": "no_such_db_qa"})
    await assert_clickhouse_error(response, 404, 81)


async def test_query_parameters_bind_server_side(
    api: test_utils.TestClient[Any, Any], db: str
) -> None:
    response = await api.post(
        "/",
        params={"param_offer": "beta", "param_note": "tab\\there\\nnew line"},
        data=f"SELECT id FROM {db}.clicks WHERE offer = {{offer:String}} OR note = {{note:String}} "
        "ORDER BY id",
    )
    assert response.status == 200, await response.text()
    assert await response.text() == "1\n2\n"
    response = await api.post("/", data="SELECT {missing:String}")
    await assert_clickhouse_error(response, 400, 456)  # UNKNOWN_QUERY_PARAMETER


async def test_url_parameters_are_settings(api: test_utils.TestClient[Any, Any]) -> None:
    response = await api.get(
        "/",
        params={
            "query": "SELECT getSetting('max_threads'), getSetting('readonly')",
            "max_threads": "1",
            # What clickhouse-connect and other clients send: interpreted or dropped.
            "query_id": "qa-query-id",
            "session_id": "qa-session",
            "wait_end_of_query": "1",
            "send_progress_in_http_headers": "1",
            "enable_http_compression": "1",
            "user": "default",
            "password": "",
        },
    )
    assert await response.text() == "1\t1\n"
    assert response.headers["X-ClickHouse-Query-Id"] == "qa-query-id"
    response = await api.get("/", params={"query": "SELECT 1", "no_such_setting_qa": "1"})
    await assert_clickhouse_error(response, 400, 115)  # UNKNOWN_SETTING


# --- refusing writes -----------------------------------------------------------------------

WRITES = [
    "INSERT INTO {db}.clicks VALUES (9, 'x', 'x', 1, now())",
    "INSERT INTO {db}.clicks SELECT * FROM {db}.clicks",
    "CREATE TABLE {db}.created (a UInt8) ENGINE = Memory",
    "CREATE TEMPORARY TABLE scratch (a UInt8)",
    "DROP TABLE {db}.clicks",
    "DROP DATABASE {db}",
    "TRUNCATE TABLE {db}.clicks",
    "ALTER TABLE {db}.clicks DELETE WHERE 1",
    "ALTER TABLE {db}.clicks ADD COLUMN extra UInt8",
    "OPTIMIZE TABLE {db}.clicks FINAL",
    "RENAME TABLE {db}.clicks TO {db}.renamed",
    "SYSTEM STOP MERGES",  # readonly alone lets this one through in chdb
    "SYSTEM START MERGES",
    "SYSTEM FLUSH LOGS",
    "KILL QUERY WHERE 1",
    "UNDROP TABLE {db}.never_dropped",
    "SET readonly = 0",
    "SET param_offer = 'beta'",  # passes readonly, and would stay on the session
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT 1 SETTINGS max_result_rows = 0",
    "INSERT INTO FUNCTION file('{tmp}/written.tsv', 'TSV', 'a UInt8') VALUES (1)",
    "SELECT * FROM file('{tmp}/secret.txt', 'LineAsString')",
    "SELECT 1 INTO OUTFILE '{tmp}/written.tsv'",
    "EXPLAIN SELECT 1 INTO OUTFILE '{tmp}/written.tsv' TRUNCATE",
]


@pytest.mark.parametrize("statement", WRITES)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_writes_are_refused(
    api: test_utils.TestClient[Any, Any],
    query_client: Any,
    db: str,
    tmp_path: Path,
    statement: str,
    method: str,
) -> None:
    (tmp_path / "secret.txt").write_text("secret\n")
    sql = statement.format(db=db, tmp=tmp_path)
    if method == "GET":
        response = await api.get("/", params={"query": sql})
    else:
        response = await api.post("/", data=sql)
    body = await response.text()
    assert 400 <= response.status < 500, body
    # READONLY from the engine; INTO OUTFILE, which chdb writes whatever readonly says,
    # is refused as ClickHouse's HTTP server refuses it.
    expected = 358 if "INTO OUTFILE" in sql else 164
    await assert_clickhouse_error(response, 403, expected)
    assert "secret" not in body
    # Nothing changed.
    assert row_count(query_client, db) == len(ROWS)
    tables = query_client.query(f"SELECT name FROM system.tables WHERE database = '{db}'")
    assert [row[0] for row in tables.result_rows] == ["clicks"]
    assert not (tmp_path / "written.tsv").exists()


async def test_reads_of_every_kind_pass(api: test_utils.TestClient[Any, Any], db: str) -> None:
    queries = {
        f"SHOW TABLES FROM {db}": "clicks\n",
        f"EXISTS TABLE {db}.clicks": "1\n",
        f"DESCRIBE TABLE {db}.clicks FORMAT TSVRaw": None,
        "EXPLAIN SYNTAX SELECT 1": None,
        "WITH 2 AS x SELECT x * 2": "4\n",
        "(SELECT 1) UNION ALL (SELECT 2)": None,
        # Clause-like text inside literals and comments is not a clause.
        "SELECT 'x INTO OUTFILE ''y'' PARALLEL WITH' -- INTO OUTFILE 'z'": None,
    }
    for sql, expected in queries.items():
        response = await api.post("/", data=sql)
        text = await response.text()
        assert response.status == 200, (sql, text)
        if expected is not None:
            assert text == expected, sql


async def test_the_callers_client_is_not_made_read_only(
    api: test_utils.TestClient[Any, Any], query_client: Any
) -> None:
    response = await api.get("/", params={"query": "SELECT getSetting('readonly')"})
    assert await response.text() == "1\n"
    assert str(query_client.command("SELECT getSetting('readonly')")) == "0"


# --- bad queries and limits ----------------------------------------------------------------


async def test_syntax_error_is_400(api: test_utils.TestClient[Any, Any]) -> None:
    response = await api.get("/", params={"query": "SELEC 1"})
    body = await assert_clickhouse_error(response, 400, 62)
    assert "(SYNTAX_ERROR)" in body
    response = await api.post("/", data="")
    await assert_clickhouse_error(response, 400, 62)  # Empty query
    response = await api.post("/", data="SELECT 1; SELECT 2")
    body = await assert_clickhouse_error(response, 400, 62)
    assert "Multi-statements are not allowed" in body
    assert "formatQuerySingleLine" not in body  # the statement check stays out of sight


async def test_unknown_table_is_404(api: test_utils.TestClient[Any, Any], db: str) -> None:
    response = await api.get("/", params={"query": f"SELECT * FROM {db}.no_such_table"})
    body = await assert_clickhouse_error(response, 404, 60)
    assert "(UNKNOWN_TABLE)" in body


async def test_unknown_identifier_is_400(api: test_utils.TestClient[Any, Any], db: str) -> None:
    response = await api.get("/", params={"query": f"SELECT no_such_column FROM {db}.clicks"})
    await assert_clickhouse_error(response, 400, 47)
    response = await api.get("/", params={"query": "SELECT no_such_function_qa(1)"})
    await assert_clickhouse_error(response, 400, 46)


async def test_result_row_limit(api: test_utils.TestClient[Any, Any], db: str) -> None:
    response = await api.get(
        "/", params={"query": "SELECT number FROM system.numbers LIMIT 2000000"}
    )
    body = await assert_clickhouse_error(response, 500, 396)
    assert "(TOO_MANY_ROWS_OR_BYTES)" in body
    # A client may lower the limit ...
    response = await api.get(
        "/", params={"query": f"SELECT id FROM {db}.clicks", "max_result_rows": "2"}
    )
    await assert_clickhouse_error(response, 500, 396)
    # ... but neither raise nor remove it.
    for asked in ("5000", "0"):
        response = await api.get(
            "/", params={"query": "SELECT number FROM numbers(2000)", "max_result_rows": asked}
        )
        await assert_clickhouse_error(response, 500, 396)


async def test_execution_time_limit(query_client: Any) -> None:
    app = create_query_app(query_client, max_execution_time_s=0.5)
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        response = await client.get("/", params={"query": "SELECT count() FROM system.numbers"})
        body = await assert_clickhouse_error(response, 408, 159)
        assert "(TIMEOUT_EXCEEDED)" in body


async def test_oversize_body_is_413(api: test_utils.TestClient[Any, Any]) -> None:
    sql = "SELECT 1 -- " + "x" * (1024 * 1024)
    response = await api.post("/", data=sql)
    await assert_clickhouse_error(response, 413, 229)


# --- clickhouse-connect's own HTTP client --------------------------------------------------


async def test_clickhouse_connect_http_client(query_client: Any, db: str) -> None:
    # The default limits: clickhouse-connect's handshake reads all of system.settings
    # (~1900 rows in chdb 4.4), more than the 1000-row limit of the `api` fixture.
    app = create_query_app(query_client)
    async with test_utils.TestClient(test_utils.TestServer(app)) as server:
        port = server.port
        assert port is not None

        def use_it() -> None:
            client = clickhouse_connect.get_client(
                host="127.0.0.1", port=port, interface="http", database=db
            )
            try:
                assert client.query(f"SELECT count() FROM {db}.clicks").result_rows == [(3,)]
                # query() reads Native: Decimal, DateTime64 and escapes survive the trip.
                result = client.query("SELECT id, offer, note, amount, at FROM clicks ORDER BY id")
                assert [row[:4] for row in result.result_rows] == [row[:4] for row in ROWS]
                assert [row[4].replace(tzinfo=None) for row in result.result_rows] == [
                    row[4] for row in ROWS
                ]
                assert client.query(
                    "SELECT sum(amount) FROM clicks WHERE offer = {offer:String}",
                    parameters={"offer": "gamma"},
                ).result_rows == [(Decimal("100.00"),)]
                assert client.command("SELECT 1") == 1
                with pytest.raises(DatabaseError) as refused:
                    client.command(f"DROP TABLE {db}.clicks")
                assert getattr(refused.value, "code", None) == 164
                with pytest.raises(DatabaseError):
                    client.command(f"INSERT INTO {db}.clicks VALUES (9, 'x', 'x', 1, now())")
            finally:
                client.close()

        await asyncio.to_thread(use_it)
    assert row_count(query_client, db) == len(ROWS)

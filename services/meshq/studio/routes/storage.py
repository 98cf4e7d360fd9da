"""A room's storage: browse folders, view text and JSON files, download, upload, delete.

Paths go to the server as typed; the server refuses escapes ("../x", absolute paths) with
INVALID_ARGUMENT, and that reason is what the page shows.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from meshq.api.storage import FileInfo
from meshq.studio.errors import BadInput
from meshq.studio.paging import page_number, paginate
from meshq.studio.sessions import Session
from meshq.studio.web import action, back, field_text, page, render, state

VIEW_BYTES = 1024 * 1024  # files up to this size are shown in the page
UPLOAD_CHUNK = 1024 * 1024


def _crumbs(room: str, path: str) -> list[tuple[str, str]]:
    """[(name, link)] from the room's root down to ``path`` (the last one unlinked)."""
    parts = [p for p in path.split("/") if p]
    return [(part, "" if i == len(parts) - 1 else _url(room, "/".join(parts[:i + 1])))
            for i, part in enumerate(parts)]


def _url(room: str, path: str = "") -> str:
    return f"/rooms/{room}/storage" + (f"?path={quote(path)}" if path else "")


@page
async def browse(request: Request, session: Session) -> Response:
    room = request.path_params["room"]
    path = request.query_params.get("path", "").strip("/")
    storage = session.client.room(room).storage
    info = await storage.stat(path) if path else None
    if info is not None and not info.is_dir:
        return await _view(request, session, room, info)
    entries = sorted(await storage.list(path), key=lambda f: (not f.is_dir, f.path))
    return render(request, "storage.html", session, room=room, path=path, crumbs_of=_crumbs(room, path),
                  entries=paginate(entries, page_number(request)), url=_url,
                  parent=posixpath.dirname(path))


async def _view(request: Request, session: Session, room: str, info: FileInfo) -> Response:
    text, pretty, binary = "", "", False
    if info.size <= VIEW_BYTES:
        data = await session.client.room(room).storage.read(info.path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            binary = True
        if text and info.path.lower().endswith(".json"):
            try:
                pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except json.JSONDecodeError:
                pretty = ""
    return render(request, "file.html", session, room=room, info=info, text=pretty or text,
                  is_json=bool(pretty), binary=binary, too_big=info.size > VIEW_BYTES,
                  crumbs_of=_crumbs(room, info.path), url=_url, parent=posixpath.dirname(info.path))


@page
async def download(request: Request, session: Session) -> Response:
    room = request.path_params["room"]
    path = request.query_params.get("path", "").strip("/")
    storage = session.client.room(room).storage
    info = await storage.stat(path)
    if info.is_dir:
        raise BadInput(f"{path} is a folder: download its files one by one.")
    stream = storage.read_stream(path)
    first = await anext(stream, b"")  # a refusal surfaces here, before headers are sent

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in stream:
            yield chunk

    name = posixpath.basename(path)
    return StreamingResponse(body(), media_type="application/octet-stream", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "Content-Length": str(info.size)})


@action
async def upload(request: Request, session: Session, form: FormData) -> Response:
    room = request.path_params["room"]
    folder = field_text(form, "path").strip("/")
    item = form.get("file")
    if not isinstance(item, UploadFile) or not item.filename:
        raise BadInput("Choose a file to upload.")
    name = posixpath.basename(item.filename.replace("\\", "/"))
    target = f"{folder}/{name}" if folder else name

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await item.read(UPLOAD_CHUNK):
            yield chunk

    stored = await session.client.room(room).storage.write(target, chunks())
    state(request).flash(session, "ok", f"Uploaded {stored.path} ({stored.size} bytes).")
    return back(_url(room, folder))


@page
async def confirm_delete(request: Request, session: Session) -> Response:
    room = request.path_params["room"]
    path = request.query_params.get("path", "").strip("/")
    if not path:
        raise BadInput("Pick a file or folder to delete (the room's root cannot be).")
    info = await session.client.room(room).storage.stat(path)
    what = "folder" if info.is_dir else "file"
    return render(request, "confirm.html", session, title=f"Delete {what} {path}?",
                  message=f"The {what} {path}" + (" and everything in it" if info.is_dir else "")
                  + " will be deleted. This cannot be undone.",
                  action=f"/rooms/{room}/storage/delete", button=f"Delete {what}",
                  cancel=_url(room, posixpath.dirname(path)),
                  fields={"path": path, "recursive": "1" if info.is_dir else ""})


@action
async def delete(request: Request, session: Session, form: FormData) -> Response:
    room = request.path_params["room"]
    path = field_text(form, "path").strip("/")
    if not path:
        raise BadInput("Pick a file or folder to delete.")
    await session.client.room(room).storage.delete(path,
                                                   recursive=field_text(form, "recursive") == "1")
    state(request).flash(session, "ok", f"Deleted {path}.")
    return back(_url(room, posixpath.dirname(path)))


_S = "/rooms/{room}/storage"
routes = [
    Route(_S, browse, methods=["GET"]),
    Route(_S + "/download", download, methods=["GET"]),
    Route(_S + "/upload", upload, methods=["POST"]),
    Route(_S + "/delete", confirm_delete, methods=["GET"]),
    Route(_S + "/delete", delete, methods=["POST"]),
]

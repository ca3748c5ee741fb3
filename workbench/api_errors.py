"""The API's one error shape ({"error": {code, message, field}}) for FastAPI's own 401, 404, 405 and 422 answers."""

from __future__ import annotations

from collections.abc import Sequence

HTTP_CODES = {
    400: ("BAD_REQUEST", "请求有误"),
    401: ("UNAUTHORIZED", "需要登录令牌 (Authorization: Bearer <token>)"),
    403: ("FORBIDDEN", "无权进行此操作"),
    404: ("NOT_FOUND", "没有这个接口或记录"),
    405: ("METHOD_NOT_ALLOWED", "该接口不支持此请求方法"),
    413: ("BODY_TOO_LARGE", "请求体过大"),
}

# pydantic's error types -> a Chinese sentence (the field is named separately)
_VALIDATION = {
    "missing": "必填",
    "string_pattern_mismatch": "格式不正确",
    "string_too_long": "过长",
    "string_too_short": "过短",
    "literal_error": "取值不在允许范围内",
    "int_parsing": "须为整数",
    "int_type": "须为整数",
    "bool_parsing": "须为 true 或 false",
    "bool_type": "须为 true 或 false",
    "float_parsing": "须为数字",
    "greater_than_equal": "过小",
    "less_than_equal": "过大",
    "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "须为 JSON 对象",
    "dict_type": "须为 JSON 对象",
    "list_type": "须为列表",
    "string_type": "须为文字",
    "date_from_datetime_parsing": "须为日期 YYYY-MM-DD",
    "date_parsing": "须为日期 YYYY-MM-DD",
    "too_short": "过短",
    "too_long": "过长",
}


ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "稳定的错误代码，如 INVALID、MISSING_REASON"},
        "message": {"type": "string", "description": "中文说明：错在哪里、怎么改"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "出错的参数或字段"}}}},
}


def validation_error(errors: Sequence[dict]) -> dict:
    """The first of FastAPI's validation errors as {code, message, field}: `field` is the parameter's name."""
    first = errors[0] if errors else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    field = ".".join(location) or None
    kind = first.get("type", "")
    what = _VALIDATION.get(kind, "不正确")
    message = f"参数 {field} {what}" if field else f"请求{what}"
    if len(errors) > 1:
        message += f"（另有 {len(errors) - 1} 处问题）"
    return {"code": "INVALID", "message": message, "field": field}


def http_error(status: int, detail: object) -> dict:
    code, default = HTTP_CODES.get(status, ("HTTP_" + str(status), "请求未能完成"))
    message = detail if isinstance(detail, str) and detail and not detail.isascii() else default
    return {"code": code, "message": message, "field": None}

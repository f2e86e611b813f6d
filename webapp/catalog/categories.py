"""Categories: a tree of id, name and parent_id, listed with product counts."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from storage import catalog
from tasks import indexing as indexing_tasks
from webapp.catalog.schemas import CategoryCreateSchema, CategoryFieldsSchema, CategorySchema

blp = Blueprint("categories", __name__, url_prefix="/api/v1/categories", description="The category tree")

# Every category write holds this one lock, so two concurrent moves cannot
# each pass the cycle check and together close a loop.
_TREE_LOCK = ("category-tree", "all")


def _present(category: dict[str, Any], categories: dict[str, dict], totals: dict[str, int]) -> dict[str, Any]:
    path = [node["id"] for node in catalog.category_path(categories, category["id"])]
    return {**category, "path": path, "product_count": totals.get(category["id"], 0)}


def _existing(categories: dict[str, dict], category_id: str) -> dict[str, Any]:
    if category_id not in categories:
        abort(404, message=f"category {category_id!r} not found")
    return categories[category_id]


def _invalid_parent(message: str):
    abort(422, message="Invalid fields", errors={"json": {"parent_id": [message]}})


def _check_parent(categories: dict[str, dict], category_id: str, parent_id: str | None) -> None:
    if parent_id is None:
        return
    if parent_id not in categories:
        _invalid_parent(f"unknown category {parent_id!r}")
    if catalog.would_create_cycle(categories, category_id, parent_id):
        _invalid_parent(f"{parent_id!r} is {category_id!r} or below it, which would make a cycle")


@blp.route("")
class Categories(MethodView):
    @blp.response(200, CategorySchema(many=True))
    def get(self):
        """List every category, root first, each with its product count including descendants."""
        tag = "api.categories.list"
        categories = catalog.load_categories(tag=tag)
        totals = catalog.counts_with_descendants(categories, catalog.product_counts_by_category(tag=tag))
        listed = [_present(category, categories, totals) for category in categories.values()]
        listed.sort(key=lambda category: (len(category["path"]), category["id"]))
        return listed

    @blp.arguments(CategoryCreateSchema)
    @blp.response(201, CategorySchema)
    @blp.alt_response(409, description="A category with this id exists")
    def post(self, data):
        """Create a category under an existing parent (or as a root)."""
        tag = "api.categories.create"
        with catalog.record_lock(*_TREE_LOCK):
            categories = catalog.load_categories(tag=tag)
            if data["id"] in categories:
                abort(409, message=f"category {data['id']!r} already exists; use PUT to change it")
            _check_parent(categories, data["id"], data["parent_id"])
            now = catalog.now_utc()
            category = {**data, "created_at": now, "updated_at": now, "version": catalog.next_version(), "deleted": False}
            catalog.insert_categories([category], tag=tag)
        categories[category["id"]] = category
        return _present(category, categories, {})


@blp.route("/<string:category_id>")
class CategoryById(MethodView):
    @blp.response(200, CategorySchema)
    @blp.alt_response(404, description="No such category")
    def get(self, category_id):
        """Read a category with its path from the root and its product count."""
        tag = "api.categories.get"
        categories = catalog.load_categories(tag=tag)
        category = _existing(categories, category_id)
        totals = catalog.counts_with_descendants(categories, catalog.product_counts_by_category(tag=tag))
        return _present(category, categories, totals)

    @blp.arguments(CategoryFieldsSchema)
    @blp.response(200, CategorySchema)
    @blp.alt_response(404, description="No such category")
    def put(self, data, category_id):
        """Rename or move a category; its products are re-indexed with the new path."""
        tag = "api.categories.replace"
        with catalog.record_lock(*_TREE_LOCK):
            categories = catalog.load_categories(tag=tag)
            current = _existing(categories, category_id)
            _check_parent(categories, category_id, data["parent_id"])
            category = {**current, **data, "updated_at": catalog.now_utc(),
                        "version": catalog.next_version(current["version"])}
            catalog.insert_categories([category], tag=tag)
        categories[category_id] = category
        if (current["name"], current["parent_id"]) != (category["name"], category["parent_id"]):
            indexing_tasks.index_category_products.delay(category_id)
        totals = catalog.counts_with_descendants(categories, catalog.product_counts_by_category(tag=tag))
        return _present(category, categories, totals)

    @blp.response(204)
    @blp.alt_response(404, description="No such category")
    @blp.alt_response(409, description="The category still has children or products")
    def delete(self, category_id):
        """Delete a category that has no children and no products."""
        tag = "api.categories.delete"
        with catalog.record_lock(*_TREE_LOCK):
            categories = catalog.load_categories(tag=tag)
            current = _existing(categories, category_id)
            children = sorted(c["id"] for c in categories.values() if c["parent_id"] == category_id)
            if children:
                abort(409, message=f"category {category_id!r} has {len(children)} child categories; "
                      f"move or delete them first (first: {children[0]!r})")
            products = catalog.product_counts_by_category(tag=tag).get(category_id, 0)
            if products:
                abort(409, message=f"category {category_id!r} has {products} products; move or delete them first")
            catalog.insert_categories([{**current, "deleted": True, "updated_at": catalog.now_utc(),
                                        "version": catalog.next_version(current["version"])}], tag=tag)

//! Thing groups (nested): create, describe, delete, list, membership and the listings both
//! ways.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{ANY, NAME, Op, TpsClass, Ty, body, path, query};
use crate::params::Params;
use crate::{ApiError, ApiState, Body, empty};
use fleetward_service::registry::{
    self as registry, CreateThingGroupRequest, ListThingGroupsRequest, ThingGroupMembershipRequest,
    ThingGroupProperties,
};

use super::{ApiResult, PAGING};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
    Op {
        name: "DeleteThingGroup",
        method: "DELETE",
        path: GROUP,
        members: &[
            path("thingGroupName", NAME),
            query("expectedVersion", Ty::Long),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "VersionConflict",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListThingGroupsForThing",
        method: "GET",
        path: "/things/{thingName}/thing-groups",
        members: &[path("thingName", NAME), PAGING[0], PAGING[1]],
        output: &["thingGroups", "nextToken"],
        errors: &[
            "InvalidRequest",
            "InternalFailure",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "CreateThingGroup",
        method: "POST",
        path: GROUP,
        members: &[
            path("thingGroupName", NAME),
            body("parentGroupName", NAME),
            body("thingGroupProperties", Ty::Doc("ThingGroupProperties")),
            body("tags", Ty::Doc("list<Tag>")),
        ],
        output: &["thingGroupName", "thingGroupArn", "thingGroupId"],
        errors: &[
            "InvalidRequest",
            "ResourceAlreadyExists",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DescribeThingGroup",
        method: "GET",
        path: GROUP,
        members: &[path("thingGroupName", NAME)],
        output: &[
            "thingGroupName",
            "thingGroupId",
            "thingGroupArn",
            "version",
            "thingGroupProperties",
            "thingGroupMetadata",
        ],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "ListThingGroups",
        method: "GET",
        path: "/thing-groups",
        members: &[
            PAGING[0],
            PAGING[1],
            query("parentGroup", NAME),
            query("namePrefixFilter", NAME),
            query("recursive", Ty::Bool),
        ],
        output: &["thingGroups", "nextToken"],
        errors: &[
            "InvalidRequest",
            "InternalFailure",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "AddThingToThingGroup",
        method: "PUT",
        path: "/thing-groups/addThingToThingGroup",
        members: &[
            body("thingGroupName", NAME),
            body("thingGroupArn", ANY),
            body("thingName", NAME),
            body("thingArn", ANY),
            body("overrideDynamicGroups", Ty::Bool),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "RemoveThingFromThingGroup",
        method: "PUT",
        path: "/thing-groups/removeThingFromThingGroup",
        members: &[
            body("thingGroupName", NAME),
            body("thingGroupArn", ANY),
            body("thingName", NAME),
            body("thingArn", ANY),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListThingsInThingGroup",
        method: "GET",
        path: "/thing-groups/{thingGroupName}/things",
        members: &[
            path("thingGroupName", NAME),
            query("recursive", Ty::Bool),
            PAGING[0],
            PAGING[1],
        ],
        output: &["things", "nextToken"],
        errors: &[
            "InvalidRequest",
            "InternalFailure",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Describe,
    },
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            GROUP,
            post(create_thing_group)
                .get(describe_thing_group)
                .delete(delete_thing_group),
        )
        .route(
            "/things/{thingName}/thing-groups",
            get(list_thing_groups_for_thing),
        )
        .route("/thing-groups", get(list_thing_groups))
        .route(
            "/thing-groups/addThingToThingGroup",
            put(add_thing_to_group),
        )
        .route(
            "/thing-groups/removeThingFromThingGroup",
            put(remove_thing_from_group),
        )
        .route(
            "/thing-groups/{thingGroupName}/things",
            get(list_things_in_group),
        )
}

const GROUP: &str = "/thing-groups/{thingGroupName}";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateThingGroupBody {
    #[serde(default)]
    parent_group_name: Option<String>,
    #[serde(default)]
    thing_group_properties: Option<ThingGroupProperties>,
    #[serde(default)]
    tags: Option<Value>,
}

async fn create_thing_group(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<CreateThingGroupBody>,
) -> ApiResult<registry::CreateThingGroupResponse> {
    let req = CreateThingGroupRequest {
        thing_group_name: p.req("thingGroupName").to_owned(),
        parent_group_name: b.parent_group_name,
        thing_group_properties: b.thing_group_properties,
        tags: b.tags,
    };
    let r = registry::create_thing_group(&s.ctx, &req)
        .await
        .map_err(|e| {
            ApiError::from(e).with_existing(
                &req.thing_group_name,
                registry::thing_group_arn(&s.ctx.scope, &req.thing_group_name),
            )
        })?;
    Ok(Json(r))
}

async fn describe_thing_group(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::DescribeThingGroupResponse> {
    Ok(Json(
        registry::describe_thing_group(&s.ctx, p.req("thingGroupName")).await?,
    ))
}

async fn delete_thing_group(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    registry::delete_thing_group(&s.ctx, p.req("thingGroupName"), p.int("expectedVersion")).await?;
    Ok(empty())
}

async fn list_thing_groups_for_thing(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingGroupsResponse> {
    Ok(Json(
        registry::list_thing_groups_for_thing(&s.ctx, p.req("thingName"), &p.paging()).await?,
    ))
}

async fn list_thing_groups(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingGroupsResponse> {
    let req = ListThingGroupsRequest {
        paging: p.paging(),
        parent_group: p.str("parentGroup").map(str::to_owned),
        name_prefix_filter: p.str("namePrefixFilter").map(str::to_owned),
        recursive: p.bool("recursive"),
    };
    Ok(Json(registry::list_thing_groups(&s.ctx, &req).await?))
}

async fn add_thing_to_group(
    State(s): State<ApiState>,
    Body(req): Body<ThingGroupMembershipRequest>,
) -> ApiResult<Value> {
    registry::add_thing_to_thing_group(&s.ctx, &req).await?;
    Ok(empty())
}

async fn remove_thing_from_group(
    State(s): State<ApiState>,
    Body(req): Body<ThingGroupMembershipRequest>,
) -> ApiResult<Value> {
    if req.override_dynamic_groups.is_some() {
        return Err(ApiError::invalid(
            "overrideDynamicGroups: not a member of RemoveThingFromThingGroup",
        ));
    }
    registry::remove_thing_from_thing_group(&s.ctx, &req).await?;
    Ok(empty())
}

async fn list_things_in_group(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingsInThingGroupResponse> {
    Ok(Json(
        registry::list_things_in_thing_group(
            &s.ctx,
            p.req("thingGroupName"),
            p.bool("recursive").unwrap_or(false),
            &p.paging(),
        )
        .await?,
    ))
}

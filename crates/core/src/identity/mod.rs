//! Who a connection is and what it may do.
//!
//! The broker's enforcement point asks this module one question per connect, publish,
//! subscribe and delivery: given the policy documents attached to the presenting certificate,
//! is this request allowed? The answer depends only on the documents and the request, so the
//! module is pure: no store, no clock, no IO. Loading documents and counting denials as
//! authorization failures belong to the caller.

pub mod policy;

pub use policy::{
    Action, Arns, Decision, Effect, PolicyDocument, PolicyError, Request, Statement, Vars,
    default_device_policy, evaluate,
};

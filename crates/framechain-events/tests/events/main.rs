//! The edge's event log against a real `redis-server` on loopback, in
//! temporary folders: records kept, shipped in order and linked; nothing
//! lost while Redis is away or the pod dies; a full spool fails closed; a
//! torn tail is cut off; the heartbeat comes and goes.

mod common;
mod full;
mod heartbeat;
mod outage;
mod restart;
mod shipping;
mod torn;

//! Blocks (spærringer): a citizen forbids one organisation unit, or one category of data,
//! regardless of any consent or statute — as "Min Spærring" does for health data.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::record::Channel;
use crate::vocabulary::Category;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockId(pub Uuid);

impl BlockId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for BlockId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for BlockId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.parse()?))
    }
}

/// What a block forbids: one unit (and everything below it), or one category.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum BlockTarget {
    Unit(UnitId),
    Category(Category),
}

/// A block's current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub id: BlockId,
    pub citizen: Cpr,
    pub target: BlockTarget,
    pub placed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<DateTime<Utc>>,
    pub version: u32,
}

impl Block {
    pub fn is_active(&self) -> bool {
        self.lifted_at.is_none()
    }
}

/// One immutable change to a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEvent {
    pub block_id: BlockId,
    pub version: u32,
    pub at: DateTime<Utc>,
    pub channel: Channel,
    pub kind: BlockEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockEventKind {
    Placed { citizen: Cpr, target: BlockTarget },
    Lifted,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("this block was lifted already")]
    AlreadyLifted,
    #[error("a block begins by being placed, once")]
    BadSequence,
}

/// The pure transition for blocks.
pub fn apply_block(current: Option<Block>, event: &BlockEvent) -> Result<Block, BlockError> {
    let expected = current.as_ref().map_or(0, |b| b.version) + 1;
    if event.version != expected {
        return Err(BlockError::BadSequence);
    }
    match (&event.kind, current) {
        (BlockEventKind::Placed { citizen, target }, None) => Ok(Block {
            id: event.block_id,
            citizen: *citizen,
            target: target.clone(),
            placed_at: event.at,
            lifted_at: None,
            version: 1,
        }),
        (BlockEventKind::Lifted, Some(b)) if !b.is_active() => Err(BlockError::AlreadyLifted),
        (BlockEventKind::Lifted, Some(mut b)) => {
            b.lifted_at = Some(event.at);
            b.version = event.version;
            Ok(b)
        }
        _ => Err(BlockError::BadSequence),
    }
}

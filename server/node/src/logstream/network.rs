//! The transport between a log stream's replicas. ReefDB runs one replica per log stream
//! today (DESIGN.md §5 adds the others with `reef-rpc`), so a stream never has a peer to
//! reach: every RPC reports the target unreachable, which openraft treats as a network
//! failure to retry, never as an answer.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};

use super::{NodeId, StreamTypes};

/// Opens connections to peers; there are none yet.
#[derive(Debug, Default)]
pub(crate) struct NoPeers;

/// A connection to a peer that cannot be reached.
#[derive(Debug)]
pub(crate) struct NoTransport {
    target: NodeId,
}

impl NoTransport {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        RPCError::Unreachable(Unreachable::new(&AnyError::error(format!(
            "node {} is not reachable: log streams have one replica and no transport between \
             nodes yet",
            self.target
        ))))
    }
}

impl RaftNetworkFactory<StreamTypes> for NoPeers {
    type Network = NoTransport;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> NoTransport {
        NoTransport { target }
    }
}

impl RaftNetwork<StreamTypes> for NoTransport {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<StreamTypes>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<StreamTypes>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }
}

//! REGISTER in the legs: the request goes to the core (the registrar decides), and the answer
//! goes back through the server transaction, so retransmissions are absorbed (RFC 3261 §17.2.2).

use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::transaction::ServerTxId;
use crate::sip::transport::Peer;
use crate::time::Time;

use super::Legs;

/// A REGISTER waiting for the registrar's answer.
#[derive(Debug)]
pub(crate) struct PendingRegister {
    pub tx: ServerTxId,
    pub req: Request,
    pub from: Peer,
}

impl Legs {
    pub(super) fn on_register(&mut self, tx: ServerTxId, req: Request, from: Peer) {
        self.out
            .registers
            .push_back(PendingRegister { tx, req, from });
    }

    /// The next REGISTER for the registrar.
    pub fn poll_register(&mut self) -> Option<PendingRegister> {
        self.out.registers.pop_front()
    }

    /// Answers a REGISTER with `status` and `headers` (our To tag, Server).
    pub fn answer_register(
        &mut self,
        now: Time,
        tx: ServerTxId,
        req: &Request,
        status: u16,
        headers: Vec<(HeaderName, String)>,
    ) {
        let mut resp = self.response(req, status, None);
        for (name, value) in headers {
            resp.headers.push(name, value);
        }
        self.respond(now, tx, resp);
    }
}

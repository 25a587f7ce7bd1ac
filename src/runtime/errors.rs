//! Classification of every Kafka error the runtime meets into what the transaction state
//! machine does next.
//!
//! librdkafka reports transactional failures as `KafkaError::Transaction(RDKafkaError)` carrying
//! three flags: `is_retriable()` (call again), `txn_requires_abort()` (abort, rewind, retry) and
//! `is_fatal()` (the producer is unusable). None of the three set means fatal too. A fenced
//! producer (`PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH`, `TRANSACTIONAL_ID_AUTHORIZATION_FAILED`)
//! is always fatal: another instance with our `transactional.id` took over, and only a new
//! producer (or a restart) may continue. Other error variants carry a bare error code and are
//! classified by that code. A refused SASL authentication or a failed TLS handshake is fatal
//! too: retrying the same credentials or certificates never succeeds (see `runtime::connect`).

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What to do about a failed Kafka operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Transient: retry the same call after a backoff; the transaction stays open.
    Retriable,
    /// The transaction cannot commit: abort it, discard uncommitted state, rewind the consumer
    /// to the committed offsets, and process the batch again.
    Abortable,
    /// The producer is unusable (fenced or fatal): stop processing; recreate the producer or
    /// exit non-zero so the orchestrator restarts the replica.
    Fatal,
}

impl ErrorClass {
    /// Stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retriable => "retriable",
            ErrorClass::Abortable => "abortable",
            ErrorClass::Fatal => "fatal",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error codes that mean another producer instance owns our `transactional.id`.
pub fn is_fenced(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::InvalidProducerIdMapping
    )
}

/// Whether librdkafka refused to enqueue one produced record because of the record itself:
/// larger than the producer's `message.max.bytes` (the same code the brokers use, returned by
/// the produce call, before anything is sent). Sending it again can only fail again, so the
/// worker dead-letters the input that produced it instead of retrying its batch forever (see
/// `runtime::worker::engine::refusal`). A broker's refusal in a delivery report is not this:
/// a topic's `max.message.bytes` set too low refuses every record alike, and dead-lettering
/// them all would hide a misconfiguration that the operator can fix; that batch is retried.
pub fn is_refused_for_good(code: RDKafkaErrorCode) -> bool {
    code == RDKafkaErrorCode::MessageSizeTooLarge
}

/// Classifies a Kafka error.
pub fn classify(error: &KafkaError) -> ErrorClass {
    match error {
        KafkaError::Transaction(e) => {
            if e.is_fatal() || is_fenced(e.code()) {
                ErrorClass::Fatal
            } else if e.txn_requires_abort() {
                ErrorClass::Abortable
            } else if e.is_retriable() {
                ErrorClass::Retriable
            } else {
                ErrorClass::Fatal
            }
        }
        KafkaError::MessageConsumptionFatal(_) | KafkaError::ClientCreation(_) => ErrorClass::Fatal,
        KafkaError::ClientConfig(..) | KafkaError::Nul(_) => ErrorClass::Fatal,
        other => match other.rdkafka_error_code() {
            Some(code) => classify_code(code),
            None => ErrorClass::Abortable,
        },
    }
}

/// Classifies a bare error code (produce delivery reports, commits, flushes).
pub fn classify_code(code: RDKafkaErrorCode) -> ErrorClass {
    use RDKafkaErrorCode as C;
    if is_fenced(code) {
        return ErrorClass::Fatal;
    }
    match code {
        C::Fatal
        | C::UnknownProducerId
        | C::ClusterAuthorizationFailed
        | C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::SaslAuthenticationFailed
        | C::Authentication
        | C::SSL
        | C::UnsupportedVersion
        | C::UnsupportedForMessageFormat
        | C::InvalidConfig
        | C::InvalidArgument => ErrorClass::Fatal,
        // Transient broker/cluster conditions: the call can be repeated as is.
        C::CoordinatorNotAvailable
        | C::NotCoordinator
        | C::CoordinatorLoadInProgress
        | C::ConcurrentTransactions
        | C::NetworkException
        | C::RequestTimedOut
        | C::OperationTimedOut
        | C::BrokerTransportFailure
        | C::AllBrokersDown
        | C::LeaderNotAvailable
        | C::NotLeaderForPartition
        | C::NotEnoughReplicas
        | C::NotEnoughReplicasAfterAppend
        | C::QueueFull
        | C::KafkaStorageError
        | C::UnknownTopicOrPartition
        | C::RebalanceInProgress => ErrorClass::Retriable,
        // Everything else: the batch's outcome is unknown; abort and redo it.
        _ => ErrorClass::Abortable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RDKafkaErrorCode as C;

    #[test]
    fn fenced_codes_are_fatal() {
        for code in [C::ProducerFenced, C::InvalidProducerEpoch, C::Fenced] {
            assert_eq!(classify_code(code), ErrorClass::Fatal, "{code:?}");
            assert_eq!(
                classify(&KafkaError::MessageProduction(code)),
                ErrorClass::Fatal
            );
        }
    }

    #[test]
    fn coordinator_trouble_is_retriable() {
        for code in [
            C::CoordinatorNotAvailable,
            C::NotCoordinator,
            C::ConcurrentTransactions,
            C::CoordinatorLoadInProgress,
            C::RequestTimedOut,
        ] {
            assert_eq!(classify_code(code), ErrorClass::Retriable, "{code:?}");
        }
    }

    #[test]
    fn unknown_outcomes_abort() {
        assert_eq!(classify_code(C::IllegalGeneration), ErrorClass::Abortable);
        assert_eq!(classify_code(C::MessageSizeTooLarge), ErrorClass::Abortable);
        assert_eq!(
            classify(&KafkaError::Seek("x".into())),
            ErrorClass::Abortable
        );
    }

    #[test]
    fn configuration_errors_are_fatal() {
        assert_eq!(
            classify(&KafkaError::ClientCreation("bad".into())),
            ErrorClass::Fatal
        );
        assert_eq!(
            classify_code(C::SaslAuthenticationFailed),
            ErrorClass::Fatal
        );
        // A refused password or an untrusted certificate never heals by retrying.
        assert_eq!(classify_code(C::Authentication), ErrorClass::Fatal);
        assert_eq!(classify_code(C::SSL), ErrorClass::Fatal);
    }
}

//! allocation-worker: an exactly-once Kafka stream-processing worker for stock allocation.

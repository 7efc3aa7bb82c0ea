// A connection to NATS with its JetStream context, and the streams Edict
// uses: opened with reconnection forever (a restarted server is waited for),
// credentials from a file only. Internal to stream/.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "stream/jetstream.h"

namespace edict::stream {

// "what: status text (JetStream error N)" for messages.
std::string nats_error(const std::string& what, natsStatus status,
                       jsErrCode code = static_cast<jsErrCode>(0));

class Session {
 public:
  Session() = default;
  ~Session() { close(); }
  // Closes the connection: no acknowledgement handler runs after this.
  void close();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Connects; `ack_handler` (may be null) sees every asynchronous publish's
  // outcome, at most `max_in_flight` of them outstanding.
  bool open(const Target& target, const std::string& name, int max_in_flight, jsPubAckHandler ack_handler,
            void* closure, std::string* error);
  natsConnection* connection() const { return nc_; }
  // How many times the connection was re-established (a server restart
  // loses pull requests and deliveries in flight: the caller starts over).
  uint64_t reconnects() const { return reconnects_; }
  jsCtx* js() const { return js_; }
  int64_t max_payload() const;

  // Creates the events and decisions streams when missing (with the
  // target's storage and duplicate window); existing ones are used as they are.
  bool ensure_streams(const Target& target, std::string* error);
  // Waits for every asynchronous publish to be acknowledged (at most `timeout_ms`).
  bool complete_publishes(int64_t timeout_ms, std::string* error);
  // Forgets the publishes still awaiting acknowledgement (one lost with a
  // server restart is otherwise awaited forever); returns how many. Only
  // after complete_publishes failed: libnats 3.4.1 crashes here when this
  // connection never published.
  int abandon_publishes();
  // Publishes asynchronously; a publish unacknowledged after
  // kPublishWaitMs reaches the acknowledgement handler as failed.
  natsStatus publish_async(natsMsg** msg);
  static constexpr int64_t kPublishWaitMs = 5000;

 private:
  bool ensure_stream(const std::string& name, const std::string& subjects, const Target& target,
                     std::string* error);
  static void on_reconnected(natsConnection*, void* closure);
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::atomic<uint64_t> reconnects_{0};
};

// A message header's value, or "" when absent.
std::string header_of(natsMsg* msg, const char* key);
// Wall-clock nanoseconds (publish-to-decision latency across processes on one machine).
int64_t wall_ns();

}  // namespace edict::stream

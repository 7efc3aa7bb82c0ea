// A durable pull consumer's deliveries, read from an inbox of our own rather
// than through natsSubscription_Fetch: libnats 3.4.1's Fetch writes past its
// array of `batch` messages when messages of an earlier pull request are
// already queued when it starts and more keep arriving (`count != req->Batch`
// after it lowered req->Batch; fixed upstream in nats.c 3.9, #749). That
// happens when a request outlives its Fetch, which a loaded machine causes
// now and then: the heap corruption crashed workers later (a SIGSEGV,
// `malloc(): invalid size` in natsMsg_GetMetaData). Here every delivery,
// whichever request it answers, is simply the next message in order.
// Internal to stream/.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <deque>
#include <string>

namespace edict::stream {

class PullConsumer {
 public:
  PullConsumer() = default;
  ~PullConsumer() { close(); }
  PullConsumer(const PullConsumer&) = delete;
  PullConsumer& operator=(const PullConsumer&) = delete;

  // Reads the consumer `consumer` of `stream` on `nc`, asking for `batch`
  // messages at a time and keeping up to two such requests outstanding.
  bool open(natsConnection* nc, const std::string& stream, const std::string& consumer, int batch,
            std::string* error);
  // Unsubscribes; messages already returned stay valid (they are the caller's).
  void close();

  // The next event message in delivery order, owned by the caller; NATS_TIMEOUT
  // after `timeout_ms` without one (0: only what has arrived already).
  natsStatus next(natsMsg** msg, int64_t timeout_ms);
  // Acknowledges `msg` and, with AckAll, every message delivered before it;
  // waits for the server to confirm.
  natsStatus ack_through(natsMsg* msg, int64_t timeout_ms);

  // How long a pull request waits on the server for messages.
  static constexpr int64_t kRequestExpiresMs = 1000;

 private:
  struct Request {
    int64_t deadline_ms;  // local clock: after this it is treated as expired
    int remaining;        // messages it may still bring
  };
  natsStatus request_more();
  void settle_expired(int64_t now_ms);

  natsConnection* nc_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::string inbox_, next_subject_;
  int batch_ = 1;
  std::deque<Request> requests_;  // oldest first, as the server serves them
};

}  // namespace edict::stream

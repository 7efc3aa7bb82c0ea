#include "stream/pull_consumer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "stream/nats_session.h"

namespace edict::stream {
namespace {

constexpr std::string_view kAckPrefix = "$JS.ACK.";
// Slack for the server's own expiry to reach us before we count a request gone.
constexpr int64_t kExpirySlackMs = 200;

}  // namespace

bool PullConsumer::open(natsConnection* nc, const std::string& stream, const std::string& consumer, int batch,
                        std::string* error) {
  close();
  nc_ = nc;
  batch_ = std::max(1, batch);
  next_subject_ = fmt::format("$JS.API.CONSUMER.MSG.NEXT.{}.{}", stream, consumer);
  natsInbox* inbox = nullptr;
  natsStatus s = natsInbox_Create(&inbox);
  if (s == NATS_OK) {
    inbox_ = inbox;
    natsInbox_Destroy(inbox);
    s = natsConnection_SubscribeSync(&sub_, nc_, inbox_.c_str());
  }
  if (s != NATS_OK) {
    *error = nats_error(fmt::format("cannot subscribe to the consumer `{}`", consumer), s);
    return false;
  }
  return true;
}

void PullConsumer::close() {
  if (sub_) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
  sub_ = nullptr;
  requests_.clear();
}

void PullConsumer::settle_expired(int64_t now_ms) {
  while (!requests_.empty() && (requests_.front().deadline_ms <= now_ms || requests_.front().remaining <= 0))
    requests_.pop_front();
}

natsStatus PullConsumer::request_more() {
  int outstanding = 0;
  for (const Request& r : requests_) outstanding += r.remaining;
  if (outstanding >= batch_) return NATS_OK;
  const std::string body =
      fmt::format(R"({{"batch":{},"expires":{}}})", batch_, kRequestExpiresMs * 1'000'000);
  natsStatus s = natsConnection_PublishRequest(nc_, next_subject_.c_str(), inbox_.c_str(), body.data(),
                                               static_cast<int>(body.size()));
  if (s == NATS_OK) requests_.push_back({nats_Now() + kRequestExpiresMs + kExpirySlackMs, batch_});
  return s;
}

natsStatus PullConsumer::next(natsMsg** out, int64_t timeout_ms) {
  *out = nullptr;
  const int64_t deadline = nats_Now() + timeout_ms;
  while (true) {
    const int64_t now = nats_Now();
    settle_expired(now);
    if (natsStatus s = request_more(); s != NATS_OK) return s;
    // Wake for the oldest request's expiry too, to ask again in time.
    int64_t wait = std::max<int64_t>(0, deadline - now);
    if (!requests_.empty()) wait = std::min(wait, std::max<int64_t>(1, requests_.front().deadline_ms - now));
    natsMsg* msg = nullptr;
    // A wait of 0 takes a message already queued, or times out at once.
    natsStatus s = natsSubscription_NextMsg(&msg, sub_, wait);
    if (s == NATS_TIMEOUT) {
      if (nats_Now() >= deadline) return NATS_TIMEOUT;
      continue;
    }
    if (s != NATS_OK) return s;
    const char* reply = natsMsg_GetReply(msg);
    if (reply && std::strncmp(reply, kAckPrefix.data(), kAckPrefix.size()) == 0) {
      if (!requests_.empty()) --requests_.front().remaining;
      *out = msg;
      return NATS_OK;
    }
    // A status: 100 is a heartbeat; 404, 408 and 409 end the oldest request.
    const char* status = nullptr;
    if (natsMsgHeader_Get(msg, "Status", &status) == NATS_OK && status &&
        std::strncmp(status, "100", 3) != 0 && !requests_.empty())
      requests_.pop_front();
    natsMsg_Destroy(msg);
  }
}

natsStatus PullConsumer::ack_through(natsMsg* msg, int64_t timeout_ms) {
  const char* reply = natsMsg_GetReply(msg);
  if (!reply || !*reply) return NATS_INVALID_ARG;
  natsMsg* answer = nullptr;
  natsStatus s = natsConnection_RequestString(&answer, nc_, reply, "+ACK", timeout_ms);
  natsMsg_Destroy(answer);
  return s;
}

}  // namespace edict::stream

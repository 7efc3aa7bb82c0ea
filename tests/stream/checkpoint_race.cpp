// The checkpoint store's ownership protocol, step by step against a real
// nats-server (URL in argv[1]): a worker taking a partition over loses its
// claim to the owner's save, loads again and claims again (the regression:
// its second load took the owner's save for a takeover of its own and
// stopped); the old owner's next save then reports the new owner.
// Run by run_stream_tests.py, which starts and stops the server.
#include <nats/nats.h>

#include <cstdio>
#include <string>

#include "stream/checkpoint_store.h"

using edict::stream::CheckpointStore;

namespace {

int failures = 0;

void expect(bool ok, const char* what, const std::string& error) {
  std::printf("%s: %s%s%s\n", ok ? "ok" : "FAIL", what, error.empty() ? "" : " -- ", error.c_str());
  if (!ok) ++failures;
}

const char* name(CheckpointStore::Result r) {
  switch (r) {
    case CheckpointStore::Result::Ok: return "Ok";
    case CheckpointStore::Result::Missing: return "Missing";
    case CheckpointStore::Result::Failed: return "Failed";
    case CheckpointStore::Result::Fatal: return "Fatal";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: checkpoint_race NATS_URL\n");
    return 2;
  }
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  kvConfig cfg;
  if (natsConnection_ConnectTo(&nc, argv[1]) != NATS_OK ||
      natsConnection_JetStream(&js, nc, nullptr) != NATS_OK || kvConfig_Init(&cfg) != NATS_OK) {
    std::fprintf(stderr, "cannot connect to %s\n", argv[1]);
    return 2;
  }
  cfg.Bucket = "race";
  if (js_CreateKeyValue(&kv, js, &cfg) != NATS_OK) {
    std::fprintf(stderr, "cannot create the key-value bucket\n");
    return 2;
  }
  {
    CheckpointStore owner(kv, "p0", 1024), taker(kv, "p0", 1024);
    std::string bytes, error;
    CheckpointStore::Result r = owner.load(bytes, &error);
    expect(r == CheckpointStore::Result::Missing, "the first owner finds no checkpoint", error);
    expect((r = owner.claim(&error)) == CheckpointStore::Result::Ok, "the first owner claims", error);
    expect((r = owner.save("one", &error)) == CheckpointStore::Result::Ok, "the first owner saves", error);

    // The taker loads; the owner saves before the taker's claim lands.
    r = taker.load(bytes, &error);
    expect(r == CheckpointStore::Result::Ok && bytes == "one", "the taker loads the owner's checkpoint",
           error);
    expect((r = owner.save("two", &error)) == CheckpointStore::Result::Ok, "the owner saves again", error);
    error.clear();
    r = taker.claim(&error);
    expect(r == CheckpointStore::Result::Failed, "the taker's claim over a stale revision fails (retry)",
           std::string(name(r)));
    error.clear();
    r = taker.load(bytes, &error);
    expect(r == CheckpointStore::Result::Ok && bytes == "two",
           "the taker loads again and sees the owner's newer checkpoint (not a new owner)",
           std::string(name(r)) + " " + error);
    error.clear();
    expect((r = taker.claim(&error)) == CheckpointStore::Result::Ok, "the taker's second claim succeeds",
           error);
    error.clear();
    r = owner.save("three", &error);
    expect(r == CheckpointStore::Result::Fatal && error.find("new owner") != std::string::npos,
           "the old owner's next save reports the new owner", std::string(name(r)) + " " + error);
    error.clear();
    expect((r = taker.save("four", &error)) == CheckpointStore::Result::Ok, "the new owner saves", error);
    error.clear();
    r = taker.load(bytes, &error);
    expect(r == CheckpointStore::Result::Ok && bytes == "four", "the new owner reads its own checkpoint back",
           error);
    error.clear();
    r = owner.load(bytes, &error);
    expect(r == CheckpointStore::Result::Fatal, "the old owner's rollback reports the new owner", error);
  }
  kvStore_Destroy(kv);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_Close();
  std::printf("%s\n", failures ? "FAILED" : "all ok");
  return failures ? 1 : 0;
}

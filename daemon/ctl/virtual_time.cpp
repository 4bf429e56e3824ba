#include "ctl/virtual_time.hpp"

#include <functional>

namespace incidentd {

class VirtualTime::VirtualTimer final : public Timer {
 public:
  explicit VirtualTimer(VirtualTime& owner) : owner_(owner) {}
  ~VirtualTimer() override { cancel(); }

  void arm(TimePoint deadline, std::function<void()> on_due) override {
    cancel();
    key_ = Key{deadline, owner_.next_seq_++};
    on_due_ = std::move(on_due);
    owner_.queue_.emplace(*key_, this);
  }

  void cancel() override {
    if (key_) owner_.queue_.erase(*key_);
    key_.reset();
  }

  void fire() {
    key_.reset();
    auto fn = std::move(on_due_);
    on_due_ = nullptr;
    if (fn) fn();
  }

 private:
  VirtualTime& owner_;
  std::optional<Key> key_;
  std::function<void()> on_due_;
};

std::unique_ptr<Timer> VirtualTime::create_timer() {
  return std::make_unique<VirtualTimer>(*this);
}

void VirtualTime::advance_to(TimePoint t) {
  while (!queue_.empty() && queue_.begin()->first.first <= t) {
    auto node = queue_.extract(queue_.begin());
    if (node.key().first > now_) now_ = node.key().first;
    node.mapped()->fire();
  }
  if (t > now_) now_ = t;
}

}  // namespace incidentd

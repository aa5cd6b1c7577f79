// Wakeup: lets coroutines on one executor wait for "something changed" with a deadline, the
// way a condition variable does for threads. A waiter always re-checks its condition after
// wait() returns: a return means "notified, deadline reached, or spurious".
//
//   while (!ready()) {
//     if (steady_clock::now() >= deadline) return timedOut();
//     co_await wakeup.wait(deadline);
//   }
//
// Each wait() owns a timer in its own coroutine frame set to the deadline; notify cancels it.
// notifyOne() removes the waiter it wakes from the queue, so two notifications always wake two
// different waiters.
//
// Not thread-safe: every wait and notify must run on the same single-threaded executor. The
// Wakeup must outlive its waiters (Client keeps itself alive while its coroutines run).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <list>

namespace moat::client {

class Wakeup {
 public:
  using Clock = std::chrono::steady_clock;

  Wakeup() = default;
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Suspends until notified or until `deadline`.
  boost::asio::awaitable<void> wait(Clock::time_point deadline = Clock::time_point::max()) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
    Waiter w{&timer, true};
    auto it = waiters_.insert(waiters_.end(), &w);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (w.queued) waiters_.erase(it);
  }

  // Wakes the longest-waiting coroutine, if any.
  void notifyOne() {
    if (waiters_.empty()) return;
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->queued = false;
    w->timer->cancel();
  }

  // Wakes every coroutine waiting now.
  void notifyAll() {
    while (!waiters_.empty()) notifyOne();
  }

  bool hasWaiters() const { return !waiters_.empty(); }

 private:
  struct Waiter {
    boost::asio::steady_timer* timer;
    bool queued;
  };
  std::list<Waiter*> waiters_;
};

}  // namespace moat::client

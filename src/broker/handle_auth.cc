// Authentication: the listener's chain of methods at CONNECT (certificate, psk, password, jwt,
// scram, anonymous), MQTT 5.0 enhanced authentication with AUTH packets (SCRAM-SHA-256, JWT)
// and re-authentication, refusals counted by the LoginGuard, and tokens that expire.
//
// The chain (docs/authentication.md): each method accepts (an identity), refuses (a reason),
// or passes (not its kind of client). certificate/psk accept the identity the handshake gave;
// password takes a user name and password (checked on PasswordChecker's pool); jwt takes a
// password shaped like a token; anonymous takes a client without user name. A 5.0 client that
// names an Authentication Method gets that method or 0x8C Bad Authentication Method.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/listener_info.h"
#include "broker/session.h"
#include "broker/worker.h"
#include "security/audit_log.h"
#include "security/scram.h"

namespace moat::broker {

namespace asio = boost::asio;
using mqtt::ReasonCode;

namespace {

constexpr std::string_view kJwtMethod = "JWT";

bool listed(const std::vector<std::string>& chain, std::string_view method) {
  return std::find(chain.begin(), chain.end(), method) != chain.end();
}

// The enhanced authentication methods a listener offers, for the refusal of another.
std::string offeredMethods(const std::vector<std::string>& chain) {
  std::vector<std::string_view> offered;
  if (listed(chain, "scram")) offered.push_back(security::kScramSha256Method);
  if (listed(chain, "jwt")) offered.push_back(kJwtMethod);
  return offered.empty() ? std::string("none") : fmt::format("{}", fmt::join(offered, ", "));
}

}  // namespace

std::string Connection::authIdentity() const {
  if (authMethod_.empty() || authMethod_ == "anonymous") return {};
  // Password, SCRAM and token users share one namespace of user names (as access rules do).
  const bool user = authMethod_ == "password" || authMethod_ == "scram" || authMethod_ == "jwt";
  return user ? fmt::format("user \"{}\"", authUser_)
              : fmt::format("{} identity \"{}\"", authMethod_, authUser_);
}

std::string Connection::clientAddress() const {
  if (ws_ && !ws_->facts().forwardedFor.empty()) return ws_->facts().forwardedFor;
  return remote_.port() == 0 ? peer_ : remote_.address().to_string();
}

bool Connection::authenticate(mqtt::Connect& c) {
  const auto& chain = listener_->auth;
  size_t& step = admission().authStep;
  if (step == 0) {
    if (auto ban = worker_.broker().bans().match(clientAddress(), c.username.value_or(""),
                                                 c.clientId, BanList::Clock::now())) {
      refuseAuthentication(ReasonCode::Banned,
                           fmt::format("{} is on the ban list{}", BanList::describe(*ban),
                                       ban->reason.empty() ? "" : " (" + ban->reason + ")"));
      return false;
    }
    LoginGuard::Clock::time_point until;
    if (worker_.broker().loginGuard().banned(clientAddress(), LoginGuard::Clock::now(), &until)) {
      refuseAuthentication(
          ReasonCode::Banned,
          fmt::format(
              "address {} is banned for {} s more after repeated failed logins", clientAddress(),
              std::chrono::duration_cast<std::chrono::seconds>(until - LoginGuard::Clock::now())
                      .count() +
                  1));
      return false;
    }
    // 5.0 enhanced authentication: the client chose the method.
    if (c.properties.authenticationMethod) return startEnhancedAuth(c);
  }
  for (; step < chain.size(); ++step) {
    const auto& method = chain[step];
    if (method == "certificate" || method == "psk") {
      const bool psk = tls_ && !tls_->facts().pskIdentity.empty();
      if (const auto& identity = admission_->tlsIdentity;
          !identity.empty() && psk == (method == "psk")) {
        authenticated_ = true;
        authMethod_ = psk ? "psk" : "certificate";
        authUser_ = identity;
        return true;
      }
    } else if (method == "jwt") {
      JwtChecker* jwt = worker_.broker().jwt();
      if (jwt && c.password && JwtChecker::looksLikeToken(*c.password)) {
        return acceptToken(c, *c.password);
      }
    } else if (method == "password") {
      PasswordChecker* passwords = worker_.broker().passwords();
      if (passwords && c.username && c.password) {
        authPending_ = true;
        std::string username = *c.username;
        security::SecretString password(*c.password);
        admission_->pendingConnect = std::make_unique<mqtt::Connect>(std::move(c));
        passwords->check(
            std::move(username), std::move(password), worker_.context().get_executor(),
            [self = shared_from_this()](security::VerifyResult r) { self->passwordChecked(r); });
        return false;
      }
    } else if (method == "anonymous" &&
               (!c.username ||
                !(listed(chain, "password") || listed(chain, "scram") || listed(chain, "jwt")))) {
      // A client that names a user is not anonymous where names are proven (by password,
      // SCRAM or token): its name must be proven. (Without such a method, as with Mosquitto's
      // allow_anonymous and no password file, the name is taken as given and proves nothing.)
      authenticated_ = true;
      authMethod_ = "anonymous";
      return true;
    }
  }
  refuseAuthentication(
      ReasonCode::NotAuthorized,
      chain.empty() ? std::string("no authentication method is configured on this listener")
      : c.username  ? fmt::format("user \"{}\" was not authenticated by any method (tried {})",
                                  *c.username, fmt::join(chain, ", "))
                    : fmt::format("no authentication method accepted the client (tried {})",
                                  fmt::join(chain, ", ")));
  return false;
}

bool Connection::startEnhancedAuth(mqtt::Connect& c) {
  const std::string& method = *c.properties.authenticationMethod;
  const auto& chain = listener_->auth;
  PasswordChecker* passwords = worker_.broker().passwords();
  if (method == security::kScramSha256Method && listed(chain, "scram") && passwords) {
    scram_ = passwords->scramServer();
    auto first = scram_->start(c.properties.authenticationData.value_or(""));
    if (!first) {
      scram_.reset();
      refuseAuthentication(ReasonCode::ProtocolError,
                           fmt::format("SCRAM-SHA-256: {}", first.error().message));
      return false;
    }
    enhancedMethod_ = security::kScramSha256Method;
    mqtt::Auth challenge{ReasonCode::ContinueAuthentication, {}};
    challenge.properties.authenticationMethod = method;
    challenge.properties.authenticationData = std::move(*first);
    send(challenge);
    // continued by the client's AUTH (handleAuth)
    admission().authConnect = std::make_unique<mqtt::Connect>(std::move(c));
    return false;
  }
  if (method == kJwtMethod && listed(chain, "jwt") && worker_.broker().jwt()) {
    enhancedMethod_ = kJwtMethod;
    std::string token = c.properties.authenticationData.value_or("");
    return acceptToken(c, token);
  }
  refuseAuthentication(ReasonCode::BadAuthenticationMethod,
                       fmt::format("authentication method \"{}\" is not offered on this "
                                   "listener (offered: {})",
                                   method, offeredMethods(chain)));
  return false;
}

bool Connection::acceptToken(mqtt::Connect& c, std::string_view token) {
  auto claims = worker_.broker().jwt()->verify(token, std::chrono::system_clock::now());
  if (!claims) {
    failLogin(c.username.value_or(""), ReasonCode::BadUserNameOrPassword,
              fmt::format("token refused: {}", claims.error().message));
    return false;
  }
  Token& t = tokenState();
  t.kid = claims->keyId;
  t.sub = claims->subject;
  t.alg = claims->algorithm;
  if (c.username && *c.username != claims->username) {
    failLogin(
        *c.username, ReasonCode::BadUserNameOrPassword,
        fmt::format("user name \"{}\" is not the token's \"{}\"", *c.username, claims->username));
    return false;
  }
  authenticated_ = true;
  authMethod_ = "jwt";
  authUser_ = claims->username;
  t.claims = std::make_shared<security::authz::TokenClaims>(security::authz::TokenClaims{
      std::move(claims->roles), std::move(claims->tenant), std::move(claims->fields)});
  t.expires = claims->expiresAt;
  return true;
}

Connection::Token& Connection::tokenState() {
  if (!token_) token_ = std::make_unique<Token>();
  return *token_;
}

void Connection::passwordChecked(security::VerifyResult result) {
  if (closing_ || !hasPendingConnect()) {
    authPending_ = false;
    wakeReadLoop();
    return;
  }
  const std::string user = admission_->pendingConnect->username.value_or("");
  if (result == security::VerifyResult::Ok) {
    authenticated_ = true;
    authMethod_ = "password";
    authUser_ = user;
    authPending_ = false;
    wakeReadLoop();  // readLoop continues the CONNECT
    return;
  }
  admission_->pendingConnect.reset();
  failLogin(user, ReasonCode::BadUserNameOrPassword,
            result == security::VerifyResult::UnknownUser
                ? fmt::format("user \"{}\" is not in the password file", user)
                : fmt::format("wrong password for user \"{}\"", user));
}

void Connection::failLogin(const std::string& user, ReasonCode reason, std::string why) {
  // A failure is counted; the refusal waits (longer with each failure of this address or
  // user), and enough failures ban the address. The connection stays paused meanwhile:
  // readLoop waits while authPending_ is set. The refusal is logged and noted now, so a
  // client that makes the connect timeout end the wait leaves the same trace.
  if (admission().claimedUsername.empty()) admission_->claimedUsername = user;
  recordRefusal("authentication", reason, why);
  auto verdict =
      worker_.broker().loginGuard().failed(clientAddress(), user, LoginGuard::Clock::now());
  if (verdict.bannedNow) {
    const auto& s = worker_.broker().loginGuard().settings();
    log::warn(
        "address {} banned for {} s after {} failed logins within {} s (last as user "
        "\"{}\")",
        clientAddress(), s.banTime.count(), s.maxFailures, s.window.count(), user);
  }
  authPending_ = true;
  auto wait = std::make_shared<asio::steady_timer>(worker_.context(), verdict.delay);
  wait->async_wait(
      [self = shared_from_this(), wait, reason, why = std::move(why)](boost::system::error_code) {
        self->authPending_ = false;
        if (!self->closing_) self->refuseAuthentication(reason, why);
        self->wakeReadLoop();
      });
}

void Connection::refuseAuthentication(ReasonCode reason, std::string_view why) {
  // (The claim on the client id is released in onClosed(), whichever way the attempt ends.)
  refusingAuth_ = true;
  refuseConnect(reason, why);
}

bool Connection::stillAdmitted(const mqtt::Connect& c) {
  // The ban list was checked against the user name the CONNECT claimed; a token or a SCRAM
  // exchange may have proven another one.
  if (auto ban = worker_.broker().bans().match(clientAddress(), authUser_, c.clientId,
                                               BanList::Clock::now())) {
    refuseAuthentication(ReasonCode::Banned,
                         fmt::format("{} is on the ban list{}", BanList::describe(*ban),
                                     ban->reason.empty() ? "" : " (" + ban->reason + ")"));
    return false;
  }
  // Guesses already under way when the address was banned: even a right one is refused.
  if (worker_.broker().loginGuard().banned(clientAddress(), LoginGuard::Clock::now())) {
    refuseAuthentication(ReasonCode::Banned,
                         fmt::format("address {} was banned during the check after repeated "
                                     "failed logins",
                                     clientAddress()));
    return false;
  }
  return true;
}

bool Connection::handleAuth(mqtt::Auth& auth) {
  const auto& method = auth.properties.authenticationMethod;
  if (state_ == State::AwaitConnect) {
    // The client's answer to our challenge, before CONNACK.
    if (!inAuthExchange() || !scram_) {
      refuseConnect(ReasonCode::ProtocolError, "AUTH before CONNECT");
      return false;
    }
    if (auth.reasonCode != ReasonCode::ContinueAuthentication || method != enhancedMethod_) {
      // [MQTT-4.12.0-4] the method must stay that of CONNECT.
      refuseAuthentication(
          ReasonCode::ProtocolError,
          fmt::format("AUTH with reason {} and method \"{}\" during {}",
                      static_cast<int>(auth.reasonCode), method.value_or(""), enhancedMethod_));
      return false;
    }
    auto final = scram_->finish(auth.properties.authenticationData.value_or(""));
    const std::string user = scram_->username();
    scram_.reset();
    mqtt::Connect c = std::move(*admission_->authConnect);
    admission_->authConnect.reset();
    if (admission_->claimedUsername.empty()) admission_->claimedUsername = user;
    if (!final) {
      const bool malformed = final.error().kind == security::ScramFailure::Malformed;
      if (malformed) {
        refuseAuthentication(ReasonCode::ProtocolError,
                             fmt::format("SCRAM-SHA-256: {}", final.error().message));
      } else {
        failLogin(user, ReasonCode::BadUserNameOrPassword,
                  fmt::format("SCRAM-SHA-256 for user \"{}\": {}", user, final.error().message));
      }
      return false;
    }
    if (c.username && *c.username != user) {
      refuseAuthentication(
          ReasonCode::BadUserNameOrPassword,
          fmt::format("user name \"{}\" is not the SCRAM user \"{}\"", *c.username, user));
      return false;
    }
    authenticated_ = true;
    authMethod_ = "scram";
    authUser_ = user;
    admission_->connackAuthData = std::move(*final);
    return handleConnect(c);
  }

  // Re-authentication of a connected client [MQTT-4.12.1].
  if (enhancedMethod_.empty() || method != enhancedMethod_) {
    // [MQTT-4.12.1-1] only with the method of CONNECT, and only after enhanced auth.
    protocolError(ReasonCode::ProtocolError,
                  enhancedMethod_.empty()
                      ? std::string("AUTH without an authentication method in CONNECT")
                      : fmt::format("re-authentication with method \"{}\", not \"{}\"",
                                    method.value_or(""), enhancedMethod_));
    return false;
  }
  const std::string data = auth.properties.authenticationData.value_or("");
  auto failed = [&](std::string_view why) {
    log::info("client \"{}\" {}: re-authentication failed: {}; disconnecting", clientId(), peer_,
              why);
    // Counted like a failed login: re-authentication must not be a free guessing channel.
    worker_.broker().loginGuard().failed(clientAddress(), authUser_, LoginGuard::Clock::now());
    close(ReasonCode::NotAuthorized, "re-authentication failed");
    return false;
  };
  auto outOfTurn = [&](std::string_view why) {
    protocolError(ReasonCode::ProtocolError, why);
    return false;
  };
  auto succeeded = [&](std::optional<std::string> serverData) {
    mqtt::Auth ok{ReasonCode::Success, {}};
    ok.properties.authenticationMethod = std::string(enhancedMethod_);
    ok.properties.authenticationData = std::move(serverData);
    send(ok);
    return true;
  };
  if (enhancedMethod_ == kJwtMethod) {
    if (auth.reasonCode != ReasonCode::ReAuthenticate) {
      return outOfTurn("re-authentication by token starts with AUTH 0x19");
    }
    auto claims = worker_.broker().jwt()->verify(data, std::chrono::system_clock::now());
    if (!claims) return failed(fmt::format("token refused: {}", claims.error().message));
    if (claims->username != authUser_) {
      return failed(
          fmt::format("the new token is for \"{}\", not \"{}\"", claims->username, authUser_));
    }
    Token& t = tokenState();
    const std::string& tenant = t.claims ? t.claims->tenant : kNone;
    if (claims->tenant != tenant) {
      return failed(
          fmt::format("the new token names tenant \"{}\", not \"{}\"", claims->tenant, tenant));
    }
    // Everything the new token says replaces what the old one said.
    t.kid = claims->keyId;
    t.sub = claims->subject;
    t.alg = claims->algorithm;
    t.claims = std::make_shared<security::authz::TokenClaims>(security::authz::TokenClaims{
        std::move(claims->roles), std::move(claims->tenant), std::move(claims->fields)});
    t.expires = claims->expiresAt;
    refreshSubject();
    armTokenExpiry();
    log::info(
        "client \"{}\" {}: re-authenticated by token (user \"{}\"{})", clientId(), peer_, authUser_,
        t.expires ? fmt::format(", valid until {}", security::rfc3339(*t.expires)) : std::string());
    return succeeded(std::nullopt);
  }
  // SCRAM-SHA-256: two steps, as at CONNECT.
  if (auth.reasonCode == ReasonCode::ReAuthenticate) {
    scram_ = worker_.broker().passwords()->scramServer();
    auto first = scram_->start(data);
    if (!first) return failed(first.error().message);
    if (scram_->username() != authUser_) {
      return failed(fmt::format("user \"{}\" is not \"{}\"", scram_->username(), authUser_));
    }
    mqtt::Auth challenge{ReasonCode::ContinueAuthentication, {}};
    challenge.properties.authenticationMethod = std::string(enhancedMethod_);
    challenge.properties.authenticationData = std::move(*first);
    send(challenge);
    return true;
  }
  if (auth.reasonCode != ReasonCode::ContinueAuthentication || !scram_) {
    return outOfTurn("AUTH out of turn during re-authentication");
  }
  auto final = scram_->finish(data);
  const std::string user = scram_->username();
  scram_.reset();
  if (!final) return failed(final.error().message);
  if (user != authUser_) return failed(fmt::format("user \"{}\" is not \"{}\"", user, authUser_));
  log::info("client \"{}\" {}: re-authenticated by SCRAM-SHA-256 (user \"{}\")", clientId(), peer_,
            authUser_);
  return succeeded(std::move(*final));
}

void Connection::armTokenExpiry() {
  JwtChecker* jwt = worker_.broker().jwt();
  if (!token_ || !token_->expires || !jwt || !jwt->disconnectAtExpiry() ||
      state_ != State::Connected) {
    return;
  }
  const auto expires = *token_->expires;
  // The token stops being accepted at exp + leeway (as at CONNECT); so does the connection.
  // (Saturating: a token valid past what the clock holds never expires.) The wait is at most a
  // minute at a time, checked against the wall clock each time: the steady clock the timer
  // runs on does not follow a wall clock that is set forward.
  using SystemClock = std::chrono::system_clock;
  const auto leeway = std::chrono::duration_cast<SystemClock::duration>(jwt->leeway());
  if (expires > SystemClock::time_point::max() - leeway) return;
  const auto at = expires + leeway;
  const auto left = std::clamp(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(at - SystemClock::now()),
      std::chrono::steady_clock::duration::zero(),
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::minutes(1)));
  auto& timer = token_->timer;
  if (!timer) timer = std::make_unique<Timer>(worker_.context());
  timer->expires_after(left);
  timer->async_wait([self = shared_from_this(), expires, at](boost::system::error_code ec) {
    // A re-authentication since may have brought a token that expires later, or never (its
    // own wait, if any, is armed; this one may have completed before it could be cancelled).
    if (ec || self->closing_ || self->token_->expires != expires) return;
    if (std::chrono::system_clock::now() < at) return self->armTokenExpiry();  // not yet
    log::info("client \"{}\" {}: token of user \"{}\" expired at {}; disconnecting",
              self->clientId(), self->peer_, self->authUser_, security::rfc3339(at));
    self->close(ReasonCode::NotAuthorized, "token expired");
  });
}

}  // namespace moat::broker

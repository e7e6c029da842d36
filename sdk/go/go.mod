module github.com/sovereign-backend/sovereign/sdk/go

go 1.26

require (
	connectrpc.com/connect v1.19.1
	google.golang.org/protobuf v1.36.12
)

require github.com/sovereign-backend/sovereign/proto v0.0.0

require github.com/coder/websocket v1.8.15

// The workspace builds the contract from this repository; the replacement
// lets `go mod tidy` and GOWORK=off builds do the same.
replace github.com/sovereign-backend/sovereign/proto => ../../proto

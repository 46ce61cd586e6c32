package scheme

// binanceWS is a placeholder until its implementation lands.
type binanceWS struct{}

func (binanceWS) Name() string                { return "binance-ws" }
func (binanceWS) Hosts() []string             { return nil }
func (binanceWS) Info() Info                  { return Info{} }
func (binanceWS) Check(Key) (Checked, error)  { return Checked{}, errPending("binance-ws") }
func (binanceWS) Sign(Input) (Request, error) { return Request{}, errPending("binance-ws") }

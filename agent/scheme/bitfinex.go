package scheme

// bitfinex is a placeholder until its implementation lands.
type bitfinex struct{}

func (bitfinex) Name() string                { return "bitfinex" }
func (bitfinex) Hosts() []string             { return nil }
func (bitfinex) Info() Info                  { return Info{} }
func (bitfinex) Check(Key) (Checked, error)  { return Checked{}, errPending("bitfinex") }
func (bitfinex) Sign(Input) (Request, error) { return Request{}, errPending("bitfinex") }

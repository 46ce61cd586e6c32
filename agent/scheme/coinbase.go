package scheme

// coinbase is a placeholder until its implementation lands.
type coinbase struct{}

func (coinbase) Name() string                { return "coinbase" }
func (coinbase) Hosts() []string             { return nil }
func (coinbase) Info() Info                  { return Info{} }
func (coinbase) Check(Key) (Checked, error)  { return Checked{}, errPending("coinbase") }
func (coinbase) Sign(Input) (Request, error) { return Request{}, errPending("coinbase") }

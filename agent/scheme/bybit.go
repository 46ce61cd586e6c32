package scheme

// bybit is a placeholder until its implementation lands.
type bybit struct{}

func (bybit) Name() string                { return "bybit" }
func (bybit) Hosts() []string             { return nil }
func (bybit) Info() Info                  { return Info{} }
func (bybit) Check(Key) (Checked, error)  { return Checked{}, errPending("bybit") }
func (bybit) Sign(Input) (Request, error) { return Request{}, errPending("bybit") }

# The AutoDL article's example as a user writes it, its data swapped for scikit-learn's digits (offline):
# a Paddle SimpleCNN, `return {'accuracy': acc}`, no __main__ guard. tests/integration/test_api.py runs this file as a
# script, on stdin and typed into an interactive console, so it keeps the console's rules: no blank line
# inside a block, a blank line after each.
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from paddle_autotune_plugins import AutoTuner

digits = load_digits()
images = (digits.images / 16.0).astype("float32")[:, None]  # N x 1 x 8 x 8
x_train, x_val, y_train, y_val = train_test_split(images, digits.target.astype("int64"), test_size=0.25,
                                                  random_state=0)

class SimpleCNN(nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2D(1, 16, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(16 * 8 * 8, 10)
    def forward(self, x):
        x = self.relu(self.conv(x))
        x = paddle.flatten(x, start_axis=1)
        return self.fc(x)

def train_evaluate(config):
    dataset = paddle.io.TensorDataset([paddle.to_tensor(x_train), paddle.to_tensor(y_train)])
    loader = paddle.io.DataLoader(dataset, batch_size=config['batch_size'], shuffle=True)
    model = SimpleCNN()
    optimizer = paddle.optimizer.Adam(learning_rate=config['learning_rate'], parameters=model.parameters())
    model.train()
    for xb, yb in loader:  # one small epoch
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
    model.eval()
    with paddle.no_grad():
        pred = model(paddle.to_tensor(x_val)).argmax(axis=1).numpy()
    acc = (pred == y_val).mean()
    return {'accuracy': acc}

search_space = {
    'learning_rate': {'type': 'float', 'low': 1e-4, 'high': 1e-1, 'log': True},
    'batch_size': {'type': 'categorical', 'choices': [32, 64, 128]},
}
tuner = AutoTuner(train_evaluate, search_space=search_space, max_trials=20, num_workers=2,
                  early_stopping_rounds=3, tuner_type='bayes')
best_config = tuner.run()
print('best config:', best_config)
